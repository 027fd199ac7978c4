"""Trials run elsewhere, several at once: the search's driver asks Optuna, a pool trains folds.

A pool receives plain :class:`FoldTask` messages (a spec as a dict, a fold index) and hands back
:class:`FoldOutcome` ones; a live ``optuna.Trial`` never leaves the driver. :class:`ProcessPool`
trains in local worker processes; a backend may offer its own pool (see
:meth:`automl.backends.Backend.trial_pool`).
"""

from automl.workers._base import FoldOutcome, FoldTask, SearchJob, TrialPool
from automl.workers._fold import run_fold
from automl.workers._processes import ProcessPool

__all__ = ["FoldOutcome", "FoldTask", "ProcessPool", "SearchJob", "TrialPool", "run_fold"]
