"""The preprocessor: impute, transform and scale numbers, one-hot categories; fitted per fold."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def compiled_transform(preprocessor: Any) -> Callable[[pd.DataFrame], np.ndarray] | None:
    """The fitted ``preprocessor``'s transform as plain NumPy on its learned statistics, or
    ``None`` when it holds a step this cannot mirror (the quantile transform, a column that was
    empty when fitted).

    The same operations in the same order (median imputation, the signed transform, standard
    scaling, one-hot categories with unknown ones as zeros), so the result is equal to
    ``preprocessor.transform``; it skips scikit-learn's per-call checks and column routing, which
    cost milliseconds on a request of one row.
    """
    try:
        blocks = []
        for name, steps, columns in preprocessor.named_steps["columns"].transformers_:
            if name == "numeric":
                blocks.append(_numeric_block(steps, list(columns)))
            elif name == "categorical":
                blocks.append(_categorical_block(steps, list(columns)))
            elif steps != "drop":
                return None
    except (AttributeError, KeyError, TypeError, _NotMirrored):
        return None

    def transform(features: pd.DataFrame) -> np.ndarray:
        return _as_float32(np.hstack([block(features) for block in blocks]))

    return transform


class _NotMirrored(Exception):
    """A fitted step :func:`compiled_transform` does not mirror."""


def _numeric_block(steps: Any, columns: list[str]) -> Callable[[pd.DataFrame], np.ndarray]:
    medians = steps.named_steps["impute"].statistics_
    if np.isnan(medians).any():  # scikit-learn drops such a column
        raise _NotMirrored
    shapes = {"log1p": signed_log1p, "sqrt": signed_sqrt}
    names = [name for name, _ in steps.steps]
    if names[0] != "impute" or names[-1] != "scale" or len(names) > 3:
        raise _NotMirrored
    if not set(names[1:-1]) <= set(shapes):
        raise _NotMirrored
    shape = shapes.get(names[1]) if len(names) == 3 else None
    scaler = steps.named_steps["scale"]
    mean, scale = scaler.mean_, scaler.scale_

    def block(features: pd.DataFrame) -> np.ndarray:
        matrix = features[columns].to_numpy(dtype=np.float64, copy=True)
        missing = np.isnan(matrix)
        if missing.any():
            matrix[missing] = np.take(medians, np.nonzero(missing)[1])
        if shape is not None:
            matrix = shape(matrix)
        matrix -= mean
        matrix /= scale
        return matrix

    return block


def _categorical_block(steps: Any, columns: list[str]) -> Callable[[pd.DataFrame], np.ndarray]:
    filler = steps.named_steps["impute"].fill_value
    categories = steps.named_steps["onehot"].categories_

    def block(features: pd.DataFrame) -> np.ndarray:
        parts = []
        for name, known in zip(columns, categories, strict=True):
            raw = features[name].to_numpy(dtype=object)
            # The imputer fills NaN only: None stays None, a category of its own (as fitted).
            not_none = np.fromiter((v is not None for v in raw), dtype=bool, count=len(raw))
            values: np.ndarray = np.where(pd.isna(raw) & not_none, filler, raw)
            parts.append((values[:, np.newaxis] == known[np.newaxis, :]).astype(np.float64))
        return np.hstack(parts)

    return block


def _as_float32(matrix: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(matrix, dtype=np.float32)
