"""What a search hands back: the leaderboard, the best bundle, the study and the holdout scores."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pandas as pd

from automl.events import Stop, StopReason
from automl.results._bundle import ModelBundle


@dataclass
class SearchResult:
    """What a search hands back (and the ``search_ended`` hook receives).

    Attributes:
        leaderboard: one row per trial, best first (:func:`automl.results.build_leaderboard`).
        best: the best trial's model bundle, or ``None`` when no trial completed.
        study: the Optuna study (continue it, plot it, or open it in optuna-dashboard).
        holdout: the best bundle's scores on the holdout rows, when there is a holdout.
        run_dir: the run folder.
        stop: why the search stopped (:class:`automl.events.StopReason` and a line).
    """

    leaderboard: pd.DataFrame
    best: ModelBundle | None
    study: optuna.Study
    holdout: dict[str, float] | None
    run_dir: Path
    stop: Stop = field(default_factory=Stop)

    @property
    def interrupted(self) -> bool:
        """``True`` when Ctrl-C (or SIGTERM) ended the search early."""
        return self.stop.reason is StopReason.INTERRUPTED

    @property
    def stopped(self) -> str:
        """Why the search stopped before its budget, in words ("" when it did not)."""
        return str(self.stop)
