"""Successive halving over the epochs of a trial's first fold, asynchronous as in ASHA.

The per-fold pruner acts only after a whole fold; a hopeless network would spend its first fold
(minutes on a large table) before anything can stop it. Halving compares trials much earlier, at
the *rungs* of their first fold: epochs ``first_rung``, ``first_rung * reduction``,
``first_rung * reduction**2``, … . At a rung, a trial's validation loss is ranked among those of
every other trial that reached the same rung, whatever became of them later; the trial goes on
only while it ranks among the best ``ceil(n / reduction)`` of those ``n`` (itself included), and
only once ``min_trials`` others have reached that rung. Nothing waits for a rung to fill, so
several workers never idle for one another (Li et al., "A System for Massively Parallel
Hyperparameter Tuning", 2020).

Each trial records the losses it reached at its rungs in its user attributes
(:data:`automl.tuning.record.RUNGS`), so a resumed or shared study compares against them too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import optuna

from automl.recipe import HalvingConfig
from automl.training import FoldEpochCallback
from automl.tuning import record

LOSS = "val_loss"  # the Keras log the rungs compare: every metric's trials minimise it


@dataclass(frozen=True)
class EpochHalving:
    """The rungs and the rule; see the module's docstring."""

    first_rung: int = 3
    reduction: int = 3
    min_trials: int = 5

    @classmethod
    def from_recipe(cls, config: HalvingConfig) -> EpochHalving | None:
        """The recipe's ``search.halving`` (``None`` when it is off)."""
        if not config.enabled:
            return None
        return cls(config.first_rung, config.reduction, config.min_trials)

    def is_rung(self, epoch: int) -> bool:
        """Whether trials are compared at ``epoch`` (1-based) of their first fold."""
        rung = self.first_rung
        while rung < epoch:
            rung *= self.reduction
        return rung == epoch

    def verdict(self, epoch: int, loss: float, others: Sequence[float]) -> str | None:
        """Why a trial with ``loss`` at rung ``epoch`` stops there, given the losses ``others``
        reached at the same rung (``None``: it goes on)."""
        if len(others) < self.min_trials:
            return None
        if not math.isfinite(loss):
            return f"pruned at epoch {epoch} of fold 1: its validation loss is {loss}"
        kept = math.ceil((len(others) + 1) / self.reduction)
        rank = 1 + sum(other < loss for other in others)
        if rank <= kept:
            return None
        return (
            f"pruned at epoch {epoch} of fold 1: validation loss {loss:.4g} ranked {rank} of "
            f"{len(others) + 1} trials there, the best {kept} go on (search.halving)"
        )


def rung_losses(study: optuna.Study, epoch: int, *, besides: int) -> list[float]:
    """The losses every trial of ``study`` but number ``besides`` recorded at rung ``epoch``."""
    key = str(epoch)
    losses = []
    for trial in study.get_trials(deepcopy=False):
        reached = trial.user_attrs.get(record.RUNGS, {})
        if trial.number != besides and key in reached:
            losses.append(float(reached[key]))
    return losses


def halving_callback(
    halving: EpochHalving, study: optuna.Study, trial: optuna.Trial
) -> FoldEpochCallback:
    """An epoch callback for ``trial`` that records its first fold's losses at the rungs and
    raises :class:`optuna.TrialPruned` at a rung where it ranks too low."""
    reached: dict[str, float] = {}

    def epoch_ended(fold: int, epoch: int, logs: dict[str, float]) -> None:
        if fold != 0 or LOSS not in logs or not halving.is_rung(epoch):
            return
        loss = logs[LOSS]
        others = rung_losses(study, epoch, besides=trial.number)
        reached[str(epoch)] = loss
        trial.set_user_attr(record.RUNGS, dict(reached))
        reason = halving.verdict(epoch, loss, others)
        if reason is not None:
            raise optuna.TrialPruned(reason)

    return epoch_ended
