"""The ask/tell loops: ask Optuna for a trial, score its spec, tell the result back.

A live ``optuna.Trial`` never reaches a backend: the loop turns it into a plain ModelSpec first.
:func:`run_trials` scores one trial at a time in this process; :func:`run_parallel` keeps several
in flight on a :class:`~automl.tuning.TrialPool` and tells each result as it arrives. Both record
heartbeats for their trials on a shared study and fail the trials of processes that died.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from automl.errors import TrialFailed, failure_reason
from automl.events import INTERRUPTED_MESSAGE, Stop, StopReason, TrialEnd
from automl.recipe import SpaceConfig
from automl.spec import ModelSpec
from automl.training import FoldEpochCallback
from automl.tuning import record
from automl.tuning._evaluate import Evaluation
from automl.tuning._halving import EpochHalving, rung_losses, study_halving
from automl.tuning._pool import FoldOutcome, FoldTask, RungsSoFar, TrialPool
from automl.tuning._sharing import Heartbeat, fail_stale_trials, retry_trial
from automl.tuning._space import suggest_spec

_TAKEN = "another process failed this trial: its heartbeats stopped (search.heartbeat)"
# score(spec, after_fold, after_epoch): after_fold(step, evaluation) and after_epoch(fold, epoch,
# logs) may stop the trial by raising optuna.TrialPruned
Scorer = Callable[
    [ModelSpec, Callable[[int, Evaluation], None], FoldEpochCallback | None], Evaluation
]


@dataclass(frozen=True)
class Budget:
    """When the loop stops: after ``trials`` trials or ``timeout`` seconds, whichever is first,
    or after ``max_failures`` failed trials in a row (``None``: never for that reason).

    ``ends_at()``, asked before each trial, is a :func:`time.monotonic` time after which no trial
    starts (``None``: none), for a deadline that moves as the run measures its costs.
    """

    trials: int | None
    timeout: float | None
    max_failures: int | None = None
    ends_at: Callable[[], float | None] = lambda: None


class _Tally:
    """Counts trials against the budget; says why the search stops early."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.deadline = None if budget.timeout is None else time.monotonic() + budget.timeout
        self.started = self.failures = 0
        self.stopped: Stop | None = None

    def may_start(self) -> bool:
        """Whether another trial may start: budget left and no early stop."""
        return (
            self.stopped is None
            and (self.budget.trials is None or self.started < self.budget.trials)
            and (self.deadline is None or time.monotonic() < self.deadline)
            and _before(self.budget.ends_at())
        )

    def ended(self, end: TrialEnd) -> None:
        """Count a trial's end; stop after ``max_failures`` failures in a row."""
        self.failures = self.failures + 1 if end.state == "failed" else 0
        limit = self.budget.max_failures
        if limit is not None and self.failures >= limit and self.stopped is None:
            self.stopped = Stop(
                StopReason.FAILURES,
                f"{self.failures} trials failed in a row (search.max_failures); "
                f"the last: {end.reason}",
            )

    def stop(self) -> Stop:
        """Why the loop stopped: an early stop, or its spent budget."""
        return self.stopped or Stop()


def _before(moment: float | None) -> bool:
    """Whether now is before the monotonic time ``moment`` (``None``: always)."""
    return moment is None or time.monotonic() < moment


def run_trials(
    study: optuna.Study,
    space: SpaceConfig,
    score: Scorer,
    budget: Budget,
    on_trial_start: Callable[[int], None] = lambda number: None,
    on_trial_end: Callable[[TrialEnd], None] = lambda end: None,
    trial_attrs: Mapping[str, Any] = MappingProxyType({}),
    halving: EpochHalving | None = None,
) -> Stop:
    """Run trials until the budget is spent; return why the loop stopped.

    A trial that raises is told as failed with its reason, and the loop goes on until
    ``budget.max_failures`` trials fail in a row; a trial the pruner (after each fold) or
    ``halving`` (at the rungs of its first fold) stops is told as pruned; Ctrl-C fails the
    current trial and stops. ``on_trial_start`` gets each trial's number; ``trial_attrs`` are
    recorded on every trial (e.g. the backend that ran it).
    """
    tally = _Tally(budget)
    with Heartbeat(study) as heartbeat:
        while tally.may_start():
            trial = _ask(study, heartbeat, trial_attrs)
            tally.started += 1
            on_trial_start(trial.number)
            try:
                end = _run_one(study, trial, space, score, halving)
            except KeyboardInterrupt:
                on_trial_end(_interrupt(study, trial))
                return Stop(StopReason.INTERRUPTED)
            finally:
                heartbeat.remove(trial._trial_id)
            on_trial_end(end)
            tally.ended(end)
    return tally.stop()


@dataclass
class _InFlight:
    trial: optuna.Trial
    spec: ModelSpec
    evaluation: Evaluation
    started: float = field(default_factory=time.monotonic)

    def task(self, step: int, halving: RungsSoFar | None = None) -> FoldTask:
        """The message that trains this trial's fold ``step``."""
        used = time.monotonic() - self.started
        return FoldTask(self.trial.number, self.spec.to_dict(), step, used, halving)


def run_parallel(
    study: optuna.Study,
    space: SpaceConfig,
    pool: TrialPool,
    budget: Budget,
    folds: int,
    metric: str,
    on_trial_start: Callable[[int], None] = lambda number: None,
    on_trial_end: Callable[[TrialEnd], None] = lambda end: None,
    on_scored: Callable[[ModelSpec, Evaluation], None] = lambda spec, evaluation: None,
    trial_attrs: Mapping[str, Any] = MappingProxyType({}),
    halving: EpochHalving | None = None,
) -> Stop:
    """Keep ``pool.size`` trials in flight until the budget is spent; return why it stopped.

    Each trial trains one fold at a time. After each fold the driver reports the folds' mean to
    Optuna and asks the pruner, as the serial loop does, before the next fold starts: a pruned
    trial stops at a fold boundary and its worker takes the next trial. The pruner sees every
    trial's intermediate values, whichever worker or process ran them. With ``halving``, a first
    fold goes out with the other trials' losses at the rungs as they are when it is sent, and its
    worker stops it at a rung where it ranks too low. When the budget is spent
    no trial starts; those in flight end. Ctrl-C fails the trials in flight and stops.
    ``on_scored`` sees each complete trial's spec and evaluation before it is told;
    ``trial_attrs`` are recorded on every trial.
    """
    tally = _Tally(budget)
    flying: dict[int, _InFlight] = {}
    with Heartbeat(study) as heartbeat:

        def ended(trial: optuna.Trial, end: TrialEnd) -> None:
            flying.pop(trial.number, None)
            heartbeat.remove(trial._trial_id)
            tally.ended(end)
            on_trial_end(end)

        try:
            while True:
                while len(flying) < pool.size and tally.may_start():
                    trial = _ask(study, heartbeat, trial_attrs)
                    tally.started += 1
                    on_trial_start(trial.number)
                    try:
                        spec = _spec(trial, space)
                    except Exception as exc:  # a design the space cannot make
                        ended(trial, _fail(study, trial, failure_reason(exc)))
                        continue
                    flying[trial.number] = _InFlight(trial, spec, Evaluation(metric))
                    rungs = None
                    if halving is not None:
                        rungs = RungsSoFar(halving, rung_losses(study, besides=trial.number))
                    pool.submit(flying[trial.number].task(0, rungs))
                if not flying:
                    return tally.stop()
                for outcome in pool.wait(timeout=1.0):
                    running = flying[outcome.trial]
                    end = _advance(study, running, outcome, pool, folds, on_scored)
                    if end is not None:
                        ended(running.trial, end)
        except KeyboardInterrupt:
            for running in flying.values():
                on_trial_end(_interrupt(study, running.trial))
            return Stop(StopReason.INTERRUPTED)


def _advance(
    study: optuna.Study,
    running: _InFlight,
    outcome: FoldOutcome,
    pool: TrialPool,
    folds: int,
    on_scored: Callable[[ModelSpec, Evaluation], None],
) -> TrialEnd | None:
    """Take one fold's outcome: the trial's end, or ``None`` when its next fold was sent.

    A trial whose worker died is queued again, once, like a trial whose process died.
    """
    trial, evaluation = running.trial, running.evaluation
    if outcome.rungs:
        trial.set_user_attr(record.RUNGS, outcome.rungs)
    if outcome.pruned:
        return _prune(study, trial, outcome.error)
    if outcome.record is None:
        if outcome.lost:
            retry_trial(study, trial)
        return _fail(study, trial, outcome.error)
    evaluation.folds.append(outcome.record)
    try:
        _after_fold(trial, outcome.step, evaluation)
    except optuna.TrialPruned as exc:
        return _prune(study, trial, str(exc))
    except UpdateFinishedTrialError:
        return _fail(study, trial, _TAKEN)
    if len(evaluation.folds) < folds:
        pool.submit(running.task(outcome.step + 1))
        return None
    try:
        on_scored(running.spec, evaluation)
    except Exception as exc:  # as in the serial loop, where it is part of scoring
        return _fail(study, trial, failure_reason(exc))
    return _complete(study, trial, evaluation)


def _ask(study: optuna.Study, heartbeat: Heartbeat, attrs: Mapping[str, Any]) -> optuna.Trial:
    """Fail the trials of dead processes (a shared study), then ask, tag and start beating."""
    fail_stale_trials(study)
    with warnings.catch_warnings():  # Optuna expects heartbeats inside optimize(); we beat here
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        trial = study.ask()
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    heartbeat.add(trial._trial_id)
    return trial


def _spec(trial: optuna.Trial, space: SpaceConfig) -> ModelSpec:
    spec = suggest_spec(space, trial)
    trial.set_user_attr(record.SPEC, spec.to_dict())
    trial.set_user_attr(record.ARCHITECTURE, spec.describe())
    return spec


def _after_fold(trial: optuna.Trial, step: int, evaluation: Evaluation) -> None:
    """Record the folds so far on the trial and let the pruner stop it."""
    for key, value in evaluation.summary().items():
        trial.set_user_attr(key, value)
    trial.report(evaluation.mean, step)
    if trial.should_prune():
        raise optuna.TrialPruned(f"pruned after fold {step + 1}")


def _run_one(
    study: optuna.Study,
    trial: optuna.Trial,
    space: SpaceConfig,
    score: Scorer,
    halving: EpochHalving | None,
) -> TrialEnd:
    after_epoch = None if halving is None else study_halving(halving, study, trial)
    try:
        spec = _spec(trial, space)
        evaluation = score(
            spec, lambda step, evaluation: _after_fold(trial, step, evaluation), after_epoch
        )
    except optuna.TrialPruned as exc:
        return _prune(study, trial, str(exc))
    except Exception as exc:  # a failed trial is recorded and the search goes on
        return _fail(study, trial, failure_reason(exc))
    return _complete(study, trial, evaluation)


def _complete(study: optuna.Study, trial: optuna.Trial, evaluation: Evaluation) -> TrialEnd:
    if not math.isfinite(evaluation.mean):
        return _fail(study, trial, failure_reason(TrialFailed(f"the metric is {evaluation.mean}")))
    study.tell(trial, evaluation.mean, skip_if_finished=True)
    return TrialEnd(trial.number, "complete", evaluation.mean, "", trial.user_attrs)


def _prune(study: optuna.Study, trial: optuna.Trial, reason: str) -> TrialEnd:
    with contextlib.suppress(UpdateFinishedTrialError):  # failed already by another process
        trial.set_user_attr(record.PRUNE_REASON, reason)
    study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
    return TrialEnd(trial.number, "pruned", None, reason, trial.user_attrs)


def _fail(study: optuna.Study, trial: optuna.Trial, reason: str) -> TrialEnd:
    """Tell a failed trial with its reason (one another process already failed stays as it is)."""
    with contextlib.suppress(UpdateFinishedTrialError):  # failed already by another process
        trial.set_user_attr(record.FAIL_REASON, reason)
    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
    return TrialEnd(trial.number, "failed", None, reason, trial.user_attrs)


def _interrupt(study: optuna.Study, trial: optuna.Trial) -> TrialEnd:
    trial.set_user_attr(record.FAIL_REASON, "interrupted by the user (Ctrl-C)")
    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
    return TrialEnd(trial.number, "failed", None, INTERRUPTED_MESSAGE, {})
