"""Training: the backend contract, and worker processes that train side by side.

A backend turns a ModelSpec and a fold's arrays into a FoldResult, and trains the final model; it
never sees Optuna, the recipe or the engine's dataset.
"""

from automl.training._contract import (
    Backend,
    EpochCallback,
    FoldData,
    FoldEpochCallback,
    FoldResult,
    TrainSettings,
)
from automl.training._tables import DistributedTable, TableBackend, TableSource
from automl.training._workers import Finished, WorkerProcesses, backend_in_process

__all__ = [
    "Backend",
    "DistributedTable",
    "EpochCallback",
    "Finished",
    "FoldData",
    "FoldEpochCallback",
    "FoldResult",
    "TableBackend",
    "TableSource",
    "TrainSettings",
    "WorkerProcesses",
    "backend_in_process",
]
