"""Training: the backend contract. A backend turns a ModelSpec and a fold's arrays into a
FoldResult, and trains the final model; it never sees Optuna, the recipe or the engine's dataset.
"""

from automl.training._contract import (
    Backend,
    EpochCallback,
    FoldData,
    FoldEpochCallback,
    FoldResult,
    TrainSettings,
)

__all__ = [
    "Backend",
    "EpochCallback",
    "FoldData",
    "FoldEpochCallback",
    "FoldResult",
    "TrainSettings",
]
