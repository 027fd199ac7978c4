"""Backends evaluate trials: a ModelSpec and arrays in, a FoldResult out. They never see Optuna."""

from automl.backends._base import Backend, FoldData, FoldResult, TrainSettings

__all__ = ["Backend", "FoldData", "FoldResult", "TrainSettings"]
