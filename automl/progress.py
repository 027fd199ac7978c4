"""What a running search reports: subclass :class:`Progress` and override what you need."""

from __future__ import annotations

from automl.search import TrialEnd


class Progress:
    """Receives a search's progress. Every method is a no-op here (a silent search)."""

    def search_started(
        self,
        *,
        planned: int | None,
        timeout: float | None,
        folds: int,
        max_epochs: int,
        metric: str,
    ) -> None:
        """Before the first trial: the budget (trials and/or seconds) and the shape of a trial."""

    def trial_started(self, number: int) -> None:
        """A trial begins."""

    def epoch_ended(self, fold: int, epoch: int, logs: dict[str, float]) -> None:
        """An epoch of the current trial ended (0-based fold, 1-based epoch, Keras' logs)."""

    def trial_ended(self, end: TrialEnd, best: float | None) -> None:
        """A trial ended; ``best`` is the study's best value so far (``None`` before any)."""

    def search_ended(self) -> None:
        """The last trial ended; the leaderboard and the final model come next."""
