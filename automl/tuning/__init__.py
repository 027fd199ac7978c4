"""The search: ask/tell loops over an Optuna study, k-fold scoring of each spec, heartbeats for a
shared study, and the pools that train several trials at once.

A live ``optuna.Trial`` never leaves this package: the loops turn it into a plain
:class:`~automl.spec.ModelSpec`, hand it to a backend (or a pool's workers as a :class:`FoldTask`),
and tell the result back. The keys of what each trial records are in :mod:`automl.tuning.record`.
"""

from automl.tuning import record
from automl.tuning._evaluate import (
    Evaluation,
    FoldRecord,
    Folds,
    evaluate_spec,
    evaluate_table,
)
from automl.tuning._fold import run_fold
from automl.tuning._halving import EpochHalving
from automl.tuning._loops import Budget, run_parallel, run_trials
from automl.tuning._pool import FoldOutcome, FoldTask, SearchJob, TrialPool
from automl.tuning._processes import ProcessPool
from automl.tuning._settings import train_settings
from automl.tuning._sharing import hold_sqlite, is_shared
from automl.tuning._space import suggest_spec
from automl.tuning._study import (
    connect_storage,
    hide_password,
    make_pruner,
    make_sampler,
    open_study,
    ranked_trials,
    requeue_interrupted,
)

__all__ = [
    "Budget",
    "EpochHalving",
    "Evaluation",
    "FoldOutcome",
    "FoldRecord",
    "FoldTask",
    "Folds",
    "ProcessPool",
    "SearchJob",
    "TrialPool",
    "connect_storage",
    "evaluate_spec",
    "evaluate_table",
    "hide_password",
    "hold_sqlite",
    "is_shared",
    "make_pruner",
    "make_sampler",
    "open_study",
    "ranked_trials",
    "record",
    "requeue_interrupted",
    "run_fold",
    "run_parallel",
    "run_trials",
    "suggest_spec",
    "train_settings",
]
