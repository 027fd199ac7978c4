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
from collections.abc import Callable, Sequence
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


Rungs = dict[str, list[float]]  # rung epoch (as text, as user attributes keep it): losses there


def rung_losses(study: optuna.Study, *, besides: int) -> Rungs:
    """The losses every trial of ``study`` but number ``besides`` recorded at each rung."""
    rungs: Rungs = {}
    for trial in study.get_trials(deepcopy=False):
        if trial.number != besides:
            for epoch, loss in trial.user_attrs.get(record.RUNGS, {}).items():
                rungs.setdefault(epoch, []).append(float(loss))
    return rungs


def halving_callback(
    halving: EpochHalving,
    others: Callable[[], Rungs],
    reached: Callable[[dict[str, float]], None],
) -> FoldEpochCallback:
    """An epoch callback that, at each rung of the first fold, hands the trial's losses at the
    rungs so far to ``reached`` and raises :class:`optuna.TrialPruned` where the trial ranks too
    low among ``others()``: the other trials' losses, read live from the study by a trial trained
    here, or a copy made when a worker's fold was sent."""
    losses: dict[str, float] = {}

    def epoch_ended(fold: int, epoch: int, logs: dict[str, float]) -> None:
        if fold != 0 or LOSS not in logs or not halving.is_rung(epoch):
            return
        losses[str(epoch)] = logs[LOSS]
        reached(dict(losses))
        reason = halving.verdict(epoch, logs[LOSS], others().get(str(epoch), []))
        if reason is not None:
            raise optuna.TrialPruned(reason)

    return epoch_ended


def study_halving(
    halving: EpochHalving, study: optuna.Study, trial: optuna.Trial
) -> FoldEpochCallback:
    """:func:`halving_callback` for a trial trained in the study's own process: the others'
    losses read from the study at each rung, the trial's recorded on it as they are reached."""
    return halving_callback(
        halving,
        lambda: rung_losses(study, besides=trial.number),
        lambda losses: trial.set_user_attr(record.RUNGS, losses),
    )
