"""Scoring one ModelSpec by stratified k-fold: preprocess each fold, train, score, report."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from automl.data import Dataset, fit_transform
from automl.errors import TrialTimedOut
from automl.metrics import score_all
from automl.spec import ModelSpec
from automl.training import (
    Backend,
    DistributedTable,
    FoldData,
    FoldEpochCallback,
    FoldResult,
    TrainSettings,
)
from automl.tuning import record

Folds = Sequence[tuple[np.ndarray, np.ndarray]]


@dataclass
class FoldRecord:
    """One fold's backend result, its scores and the preprocessor fitted on its training rows.

    A worker that trained the fold away from the driver hands back no model or preprocessor
    but, when its job asks (:attr:`SearchJob.pack`), both ``packed`` as bytes.
    """

    result: FoldResult
    scores: dict[str, float]
    preprocessor: Any = field(repr=False)
    packed: bytes | None = field(default=None, repr=False)


@dataclass
class Evaluation:
    """The folds scored so far for one spec, under the recipe's metric."""

    metric: str
    folds: list[FoldRecord] = field(default_factory=list)

    def values(self, name: str | None = None) -> list[float]:
        """Per-fold values of ``name`` (default: the recipe's metric)."""
        return [record.scores[name or self.metric] for record in self.folds]

    @property
    def mean(self) -> float:
        """Mean of the metric over the folds scored so far."""
        return float(np.mean(self.values()))

    def summary(self) -> dict[str, Any]:
        """Plain-data attributes for the trial: per-fold values and histories, std, epochs, size."""
        results = [record.result for record in self.folds]
        return {
            record.FOLD_VALUES: self.values(),
            record.STD: float(np.std(self.values())),
            record.LOG_LOSS: float(np.mean(self.values("log_loss"))),
            record.ACCURACY: float(np.mean(self.values("accuracy"))),
            record.EPOCHS: [r.epochs_run for r in results],
            record.BEST_EPOCHS: [r.best_epoch for r in results],
            record.SECONDS: float(sum(r.seconds for r in results)),
            record.N_PARAMS: results[0].n_params,
            record.HISTORY: [r.history for r in results],
        }


def evaluate_spec(
    spec: ModelSpec,
    dataset: Dataset,
    folds: Folds,
    backend: Backend,
    settings: TrainSettings,
    metric: str,
    after_fold: Callable[[int, Evaluation], None] = lambda step, evaluation: None,
    on_epoch: FoldEpochCallback | None = None,
    time_limit: float | None = None,
    time_used: float = 0.0,
    stop_at: Callable[[], float | None] | None = None,
) -> Evaluation:
    """Train and score ``spec`` on every fold; ``after_fold`` may stop it by raising (pruning).

    ``on_epoch(fold, epoch, logs)`` reports training progress (see :class:`Backend`).
    The preprocessor is fitted on each fold's training rows only, never on its validation rows.
    With ``time_limit`` (seconds), the trial raises :class:`~automl.errors.TrialTimedOut` at the
    first epoch end, fold start or fold end past the limit: a backend that reports epochs is
    stopped within an epoch, one that does not within a fold. ``time_used`` counts seconds the
    trial spent before this call (its earlier folds, trained one call each by a worker).
    ``stop_at()``, when given, is the :func:`time.monotonic` time when the search's time budget
    runs out for trials (``None``: not yet known): past it, the trial stops the same way, with
    that reason.
    """
    evaluation = Evaluation(metric)
    clock = _Clock(time_limit, time.monotonic() - time_used, stop_at)
    if time_limit is not None or stop_at is not None:
        on_epoch = clock.watching(on_epoch)
    prepared: list[tuple[Any, np.ndarray]] = []  # each fold's preprocessor and validation target

    def inputs() -> Iterator[tuple[FoldData, TrainSettings]]:
        for step, (train_rows, valid_rows) in enumerate(folds):
            clock.check()
            train, valid = dataset.rows(train_rows), dataset.rows(valid_rows)
            preprocessor, (x_train, x_valid) = fit_transform(
                dataset.schema, train.features, valid.features, transform=spec.transform
            )
            prepared.append((preprocessor, valid.target))
            data = FoldData(
                x_train, train.target, x_valid, valid.target, len(dataset.classes), train.weights
            )
            yield data, replace(settings, seed=settings.seed + step)

    results = backend.evaluate_folds(spec, inputs(), on_epoch)
    try:
        for step, result in enumerate(results):
            preprocessor, y_valid = prepared[step]
            scores = score_all(metric, y_valid, result.valid_proba)
            evaluation.folds.append(FoldRecord(result, scores, preprocessor))
            after_fold(step, evaluation)
            clock.check()
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
    return evaluation


def evaluate_table(
    spec: ModelSpec,
    table: DistributedTable,
    settings: TrainSettings,
    metric: str,
    after_fold: Callable[[int, Evaluation], None] = lambda step, evaluation: None,
    on_epoch: FoldEpochCallback | None = None,
    time_limit: float | None = None,
    stop_at: Callable[[], float | None] | None = None,
) -> Evaluation:
    """:func:`evaluate_spec` for a table kept where it is stored: the table fits each fold's
    preprocessor, trains and scores there, and the scores come from its counts."""
    evaluation = Evaluation(metric)
    clock = _Clock(time_limit, time.monotonic(), stop_at)
    if time_limit is not None or stop_at is not None:
        on_epoch = clock.watching(on_epoch)
    for step in range(table.folds):
        clock.check()
        listener = None if on_epoch is None else functools.partial(on_epoch, step)
        fold_settings = replace(settings, seed=settings.seed + step)
        result, counts = table.evaluate(spec, step, fold_settings, listener)
        evaluation.folds.append(FoldRecord(result, counts.scores(metric), None))
        after_fold(step, evaluation)
        clock.check()
    return evaluation


@dataclass
class _Clock:
    """A trial's time limit (``None``: none), counted from when the clock is made."""

    limit: float | None
    started: float = field(default_factory=time.monotonic)
    stop_at: Callable[[], float | None] | None = None

    def check(self) -> None:
        """Raise :class:`TrialTimedOut` once the trial has run past its limit, or the search
        past its time budget."""
        now = time.monotonic()
        if self.limit is not None and now - self.started > self.limit:
            raise TrialTimedOut(
                f"exceeded the per-trial time limit of {_seconds(self.limit)} "
                "(search.trial_timeout)"
            )
        end = None if self.stop_at is None else self.stop_at()
        if end is not None and now > end:
            raise TrialTimedOut(
                "stopped: the search's time budget (search.timeout) ran out, the rest kept for "
                "the final model"
            )

    def watching(self, on_epoch: FoldEpochCallback | None) -> FoldEpochCallback:
        """``on_epoch`` (or nothing), followed by a check of the limits after every epoch."""

        def epoch_ended(fold: int, epoch: int, logs: dict[str, float]) -> None:
            if on_epoch is not None:
                on_epoch(fold, epoch, logs)
            self.check()

        return epoch_ended


def _seconds(seconds: float) -> str:
    """``90`` → ``"90s"``, ``1.5`` → ``"1.5s"``."""
    return f"{seconds:g}s"
