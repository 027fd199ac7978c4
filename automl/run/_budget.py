"""The call's time budget: one deadline for the whole call (``search.timeout``), and the seconds
kept back from the trials for the steps after them, estimated from what the run has measured."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna

from automl.recipe import Recipe
from automl.results import references
from automl.run._folder import RunFolder
from automl.tuning import record

# The leaderboard, run.json and report.html after the final model (1.5 s measured on a small
# table, with TensorFlow and matplotlib loaded), with a margin for a busy machine.
WRITING_SECONDS = 3.0
# A final model reads back what the trials wrote and predicts the holdout: about as long again.
READ_BACK = 2.0
# A refit trains on every search row (k/(k-1) of a fold's) for the best epoch (before patience).
REFIT_PER_FOLD = 1.5


@dataclass
class CallBudget:
    """When the whole call should end, and how much of it the steps after the trials need.

    ``deadline`` is a :func:`time.monotonic` time (``None``: no time budget). The reserve for the
    final model grows with what the run measures: the best trial's seconds per fold (a refit),
    the seconds spent writing each kept trial's fold models (an ensemble reads them back), each
    reference's seconds per fold when the final model fits it on every search row, and the final
    model's seconds in the run's last call (``run.json``), when it is continued. An
    ensemble that bags the best trial over seeds (``ensemble.seeds``) keeps back that trial's
    seconds for each other seed.
    :meth:`remeasure` takes those figures in; between calls of it, :meth:`trials_end` (asked
    after every epoch) reads no study.
    """

    deadline: float | None
    recipe: Recipe
    study: optuna.Study | None = None  # set once the study is open
    last_final_seconds: float = 0.0
    kept_seconds: list[float] = field(default_factory=list)
    reserved: float = WRITING_SECONDS  # reserve() as of the last remeasure()

    @classmethod
    def start(cls, recipe: Recipe, folder: RunFolder, began: float) -> CallBudget:
        """The budget of a call that began at monotonic time ``began``."""
        timeout = recipe.search.timeout
        deadline = None if timeout is None else began + timeout
        budget = cls(deadline, recipe, last_final_seconds=_last_final_seconds(folder))
        budget.remeasure()
        return budget

    def left(self) -> float | None:
        """Seconds until the deadline (negative past it; ``None``: no time budget)."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def reserve(self) -> float:
        """Seconds the final model, the holdout scores and the files are expected to take."""
        return WRITING_SECONDS + max(self.last_final_seconds, self._final_model())

    def remeasure(self) -> None:
        """Estimate the reserve again, after a reference or a trial has ended."""
        self.reserved = self.reserve()

    def trials_end(self) -> float | None:
        """The monotonic time by which the trials must stop (``None``: no time budget)."""
        return None if self.deadline is None else self.deadline - self.reserved

    def trials_left(self) -> float | None:
        """Seconds the trials may still take (``None``: no time budget)."""
        end = self.trials_end()
        return None if end is None else end - time.monotonic()

    def _reference_rows(self) -> list[dict[str, Any]]:
        """The study's rows of the references that join the ensemble (empty before any)."""
        if not self.recipe.ensemble.reference or self.study is None:
            return []
        return [self.study.user_attrs.get(r.name) or {} for r in references(self.recipe)]

    def _references_written(self) -> float:
        """Seconds the references that join the ensemble took to write their fold models."""
        return sum(float(row.get(record.WRITE_SECONDS, 0.0)) for row in self._reference_rows())

    def _references_refit(self) -> float:
        """Seconds fitting the references once on every row, the holdout's too
        (``ensemble.refit_references``), from each one's seconds per fold on the search rows."""
        if not self.recipe.ensemble.refit_references:
            return 0.0
        more_rows = 1 / (1 - self.recipe.data.holdout)
        return more_rows * sum(_refit_seconds(row) for row in self._reference_rows())

    def bagging_end(self) -> float | None:
        """The monotonic time by which bagging over seeds must stop (``None``: no time budget),
        leaving the rest of the final model and the files their time."""
        if self.deadline is None:
            return None
        return self.deadline - WRITING_SECONDS - max(self.last_final_seconds, self._read_back())

    def _final_model(self) -> float:
        if self.recipe.training.final_model == "ensemble":
            return self._read_back() + self._bagging() + self._references_refit()
        best = self._best_trial()
        return 0.0 if best is None else _refit_seconds(best.user_attrs)

    def _read_back(self) -> float:
        """An ensemble's seconds reading its candidates' fold models back and predicting."""
        kept = sorted(self.kept_seconds, reverse=True)[: self.recipe.ensemble.candidates]
        return READ_BACK * (sum(kept) + self._references_written())

    def _bagging(self) -> float:
        """Bagging over seeds: the best trial's seconds again for each other seed."""
        best = self._best_trial()
        if best is None:
            return 0.0
        return (self.recipe.ensemble.seeds - 1) * float(best.user_attrs.get(record.SECONDS, 0.0))

    def _best_trial(self) -> optuna.trial.FrozenTrial | None:
        try:
            return self.study.best_trial if self.study is not None else None
        except ValueError:  # no trial has completed yet
            return None


def _refit_seconds(row: Mapping[str, Any]) -> float:
    """Seconds to fit once on every search row the model of a trial's or a reference's record
    ``row``: its fitting seconds per fold (its seconds less any spent writing fold models)."""
    fitting = float(row.get(record.SECONDS, 0.0)) - float(row.get(record.WRITE_SECONDS, 0.0))
    return REFIT_PER_FOLD * fitting / (len(row.get(record.FOLD_VALUES, [])) or 1)


def _last_final_seconds(folder: RunFolder) -> float:
    """The final model's seconds in the run's last call, from ``run.json`` (0 without one)."""
    try:
        recorded = json.loads(folder.record.read_text(encoding="utf-8"))
        return float(recorded["seconds"]["final_model"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0
