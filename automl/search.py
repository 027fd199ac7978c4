"""The ask/tell loop: ask Optuna for a trial, score its spec, tell the result back.

A live ``optuna.Trial`` never reaches a backend: the loop turns it into a plain ModelSpec first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from automl.errors import TrialFailed
from automl.evaluate import Evaluation
from automl.recipe import SpaceConfig
from automl.space import ModelSpec, suggest_spec

INTERRUPTED = "interrupted by the user"
Scorer = Callable[[ModelSpec, Callable[[int, Evaluation], None]], Evaluation]


@dataclass(frozen=True)
class TrialEnd:
    """What the loop reports as each trial ends."""

    number: int
    state: str
    value: float | None
    reason: str
    attrs: dict


@dataclass(frozen=True)
class Budget:
    """When the loop stops: after ``trials`` trials or ``timeout`` seconds, whichever is first,
    or after ``max_failures`` failed trials in a row (``None``: never for that reason)."""

    trials: int | None
    timeout: float | None
    max_failures: int | None = None


def run_trials(
    study: optuna.Study,
    space: SpaceConfig,
    score: Scorer,
    budget: Budget,
    on_trial_start: Callable[[int], None] = lambda number: None,
    on_trial_end: Callable[[TrialEnd], None] = lambda end: None,
) -> str:
    """Run trials until the budget is spent; return why it stopped early ("" when it did not).

    A trial that raises is told as failed with its reason, and the loop goes on until
    ``budget.max_failures`` trials fail in a row; a trial the pruner stops is told as pruned;
    Ctrl-C fails the current trial and stops. ``on_trial_start`` gets each trial's number.
    """
    deadline = None if budget.timeout is None else time.monotonic() + budget.timeout
    done = failures = 0
    while (budget.trials is None or done < budget.trials) and (
        deadline is None or time.monotonic() < deadline
    ):
        trial = study.ask()
        on_trial_start(trial.number)
        try:
            end = _run_one(study, trial, space, score)
        except KeyboardInterrupt:
            trial.set_user_attr("fail_reason", "interrupted by the user (Ctrl-C)")
            study.tell(trial, state=TrialState.FAIL)
            on_trial_end(TrialEnd(trial.number, "failed", None, "interrupted by the user", {}))
            return INTERRUPTED
        on_trial_end(end)
        done += 1
        failures = failures + 1 if end.state == "failed" else 0
        if budget.max_failures is not None and failures >= budget.max_failures:
            return (
                f"{failures} trials failed in a row (search.max_failures); the last: {end.reason}"
            )
    return ""


def _run_one(
    study: optuna.Study, trial: optuna.Trial, space: SpaceConfig, score: Scorer
) -> TrialEnd:
    def after_fold(step: int, evaluation: Evaluation) -> None:
        for key, value in evaluation.summary().items():
            trial.set_user_attr(key, value)
        trial.report(evaluation.mean, step)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after fold {step + 1}")

    try:
        spec = suggest_spec(space, trial)
        trial.set_user_attr("spec", spec.to_dict())
        trial.set_user_attr("architecture", spec.describe())
        evaluation = score(spec, after_fold)
        if not math.isfinite(evaluation.mean):
            raise TrialFailed(f"the metric is {evaluation.mean}")
    except optuna.TrialPruned as exc:
        study.tell(trial, state=TrialState.PRUNED)
        return TrialEnd(trial.number, "pruned", None, str(exc), trial.user_attrs)
    except Exception as exc:  # a failed trial is recorded and the search goes on
        reason = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
        trial.set_user_attr("fail_reason", reason)
        study.tell(trial, state=TrialState.FAIL)
        return TrialEnd(trial.number, "failed", None, reason, trial.user_attrs)
    study.tell(trial, evaluation.mean)
    return TrialEnd(trial.number, "complete", evaluation.mean, "", trial.user_attrs)
