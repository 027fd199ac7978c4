"""Data: reading tables (files, or a request's body), the feature schema, the dataset with its
holdout and folds, and the preprocessor fitted on a fold's training rows."""

from automl.data._dataset import (
    Dataset,
    FeatureSchema,
    Source,
    check_table,
    load_dataset,
    prepare_features,
    read_csv_body,
    read_features,
    read_table,
    select_features,
    sorted_classes,
    typical_row,
)
from automl.data._preprocess import build_preprocessor, compiled_transform, fit_transform
from automl.data._weights import check_row_weights, class_weights, class_weights_from_counts

__all__ = [
    "Dataset",
    "FeatureSchema",
    "Source",
    "build_preprocessor",
    "check_row_weights",
    "check_table",
    "class_weights",
    "class_weights_from_counts",
    "compiled_transform",
    "fit_transform",
    "load_dataset",
    "prepare_features",
    "read_csv_body",
    "read_features",
    "read_table",
    "select_features",
    "sorted_classes",
    "typical_row",
]
