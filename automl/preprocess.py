"""The preprocessor: impute and scale numbers, one-hot categories; fitted on training rows only."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from automl.data import FeatureSchema


def build_preprocessor(schema: FeatureSchema) -> Pipeline:
    """An unfitted scikit-learn transformer that turns a feature frame into a float32 matrix."""
    parts = []
    if schema.numeric:
        numbers = Pipeline(
            [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        )
        parts.append(("numeric", numbers, list(schema.numeric)))
    if schema.categorical:
        categories = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
                ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        parts.append(("categorical", categories, list(schema.categorical)))
    columns = ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)
    return Pipeline([("columns", columns), ("float32", FunctionTransformer(_as_float32))])


def fit_transform(
    schema: FeatureSchema, train: pd.DataFrame, *others: pd.DataFrame
) -> tuple[Pipeline, list[np.ndarray]]:
    """Fit a preprocessor on ``train`` only, then transform ``train`` and each of ``others``."""
    preprocessor = build_preprocessor(schema)
    matrices = [preprocessor.fit_transform(train)]
    matrices.extend(preprocessor.transform(frame) for frame in others)
    return preprocessor, matrices


def _as_float32(matrix: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(matrix, dtype=np.float32)
