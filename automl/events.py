"""What a search says as it runs: the event types the progress views and the plugin hooks share.

A search announces its :class:`SearchPlan`, then each trial's start and :class:`TrialEnd`, and
stops for a :class:`StopReason`. :class:`Progress` receives them in the search's process (the
command line's views subclass it); the plugin hooks of :mod:`automl.plugins` see the same
:class:`TrialEnd`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class StopReason(enum.Enum):
    """Why a search stopped."""

    BUDGET = "budget"
    """It ran its trials or its time budget (the usual end)."""
    INTERRUPTED = "interrupted"
    """Ctrl-C or SIGTERM: the trials in flight were failed and the results written."""
    FAILURES = "failures"
    """``search.max_failures`` trials failed in a row."""


INTERRUPTED_MESSAGE = "interrupted by the user"


@dataclass(frozen=True)
class Stop:
    """A search's end: its :class:`StopReason` and, for an early stop, a line saying why."""

    reason: StopReason = StopReason.BUDGET
    detail: str = ""

    @property
    def early(self) -> bool:
        """Whether the search stopped before its budget was spent."""
        return self.reason is not StopReason.BUDGET

    def __str__(self) -> str:
        """ "" for a spent budget; otherwise why the search stopped early, in words."""
        if self.reason is StopReason.INTERRUPTED:
            return INTERRUPTED_MESSAGE
        return self.detail


@dataclass(frozen=True)
class SearchPlan:
    """The budget (trials and/or seconds) and the shape of each trial, before the first one."""

    planned: int | None
    timeout: float | None
    folds: int
    max_epochs: int
    metric: str


@dataclass(frozen=True)
class TrialEnd:
    """A trial's end: its number, state (``complete``, ``pruned`` or ``failed``), value (``None``
    unless complete), the reason it did not complete, and its record (the trial's user
    attributes; their keys are in :mod:`automl.tuning`'s ``record``)."""

    number: int
    state: str
    value: float | None
    reason: str
    attrs: dict[str, Any] = field(default_factory=dict)


class Progress:
    """Receives a search's progress. Every method is a no-op here (a silent search)."""

    def search_started(self, plan: SearchPlan) -> None:
        """Before the first trial."""

    def reference_ended(self, name: str, value: float, attrs: dict[str, Any], best: float) -> None:
        """A reference model (``reference``, ``extra_trees``, ``catboost``, ``lightgbm``) was
        scored on the folds, before the first trial: its value, its record (the keys of a trial's)
        and the best value so far."""

    def trial_started(self, number: int) -> None:
        """A trial begins."""

    def epoch_ended(self, fold: int, epoch: int, logs: dict[str, float]) -> None:
        """An epoch of the current trial ended (0-based fold, 1-based epoch, Keras' logs)."""

    def trial_ended(self, end: TrialEnd, best: float | None) -> None:
        """A trial ended; ``best`` is the best value so far, of the trials and the references
        (``None`` before any)."""

    def search_ended(self) -> None:
        """The last trial ended; the leaderboard and the final model come next."""
