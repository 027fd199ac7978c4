"""Backends evaluate trials: a ModelSpec and arrays in, a FoldResult out. They never see Optuna."""

from automl.backends._base import (
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
