"""The preprocessor: impute, transform and scale numbers, one-hot categories; fitted per fold."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    QuantileTransformer,
    StandardScaler,
)

from automl.data._dataset import FeatureSchema
from automl.recipe import TRANSFORMS


def build_preprocessor(
    schema: FeatureSchema, transform: str = "none", rows: int = 100_000
) -> Pipeline:
    """An unfitted scikit-learn transformer that turns a feature frame into a float32 matrix.

    ``transform`` reshapes the numeric columns before scaling: ``none``, ``log1p`` and ``sqrt``
    (applied to magnitudes, keeping the sign, so negative values are allowed), or ``quantile``
    (a quantile transform to a normal distribution, learned on the ``rows`` training rows).
    """
    parts = []
    if schema.numeric:
        steps = [("impute", SimpleImputer(strategy="median"))]
        steps += _transform_steps(transform, rows)
        steps.append(("scale", StandardScaler()))
        parts.append(("numeric", Pipeline(steps), list(schema.numeric)))
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
    schema: FeatureSchema, train: pd.DataFrame, *others: pd.DataFrame, transform: str = "none"
) -> tuple[Pipeline, list[np.ndarray]]:
    """Fit a preprocessor on ``train`` only, then transform ``train`` and each of ``others``."""
    preprocessor = build_preprocessor(schema, transform, len(train))
    matrices = [preprocessor.fit_transform(train)]
    matrices.extend(preprocessor.transform(frame) for frame in others)
    return preprocessor, matrices


def _transform_steps(transform: str, rows: int) -> list[tuple[str, object]]:
    if transform == "none":
        return []
    if transform == "log1p":
        return [("log1p", FunctionTransformer(signed_log1p))]
    if transform == "sqrt":
        return [("sqrt", FunctionTransformer(signed_sqrt))]
    if transform == "quantile":
        quantile = QuantileTransformer(
            output_distribution="normal", n_quantiles=min(1000, rows), random_state=0
        )
        return [("quantile", quantile)]
    raise ValueError(f"unknown transform '{transform}'; allowed: {', '.join(TRANSFORMS)}")


def signed_log1p(matrix: np.ndarray) -> np.ndarray:
    """``sign(x) * log(1 + |x|)``: log1p for counts, defined for negative values too."""
    return np.sign(matrix) * np.log1p(np.abs(matrix))


def signed_sqrt(matrix: np.ndarray) -> np.ndarray:
    """``sign(x) * sqrt(|x|)``."""
    return np.sign(matrix) * np.sqrt(np.abs(matrix))


def _as_float32(matrix: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(matrix, dtype=np.float32)
