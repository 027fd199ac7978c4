"""Data: reading tables, the feature schema, the dataset with its holdout and folds, and the
preprocessor fitted on a fold's training rows."""

from automl.data._dataset import (
    Dataset,
    FeatureSchema,
    load_dataset,
    prepare_features,
    read_features,
    read_table,
    typical_row,
)
from automl.data._preprocess import build_preprocessor, fit_transform

__all__ = [
    "Dataset",
    "FeatureSchema",
    "build_preprocessor",
    "fit_transform",
    "load_dataset",
    "prepare_features",
    "read_features",
    "read_table",
    "typical_row",
]
