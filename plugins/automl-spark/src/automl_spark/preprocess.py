"""Preprocessing fitted where the rows are: the bundle's preprocessor from Spark aggregations.

A table on the executors is never collected to fit the preprocessor. Its statistics are:

- the median of every numeric column (``approxQuantile``, NaN counted as missing);
- for the ``quantile`` transform, the quantiles of every numeric column once its missing values
  are filled (``approxQuantile`` again, at the quantile transform's references);
- the distinct values of every categorical column (missing as a value of its own, as
  :func:`automl.data.prepare_features` makes it);
- the mean and population variance of every numeric column after imputation and the transform:
  one Spark aggregation of the same arithmetic written as column expressions, or, for the
  quantile transform, which has none, each task applies the fitted steps to its partition and
  returns its rows, means and sums of squared deviations, which the driver merges (Chan et al.'s
  pairwise update).

They are set on the same scikit-learn preprocessor a bundle always holds
(:func:`automl.data.build_preprocessor`), so ``automl predict`` and ``automl serve`` read the
result without Spark. The tasks then turn the rows into the network's input with that very
preprocessor (:func:`network_rows`).

Medians and quantiles are approximate: ``approxQuantile`` with relative error ``e`` returns a
value whose rank is within ``e * rows`` of the exact one's (Greenwald-Khanna). Given them, the
means and variances are exact up to floating-point order.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from automl.data import FeatureSchema, Source, build_preprocessor, prepare_features
from automl.errors import UserError

MEDIAN_RELATIVE_ERROR = 1e-4  # the rank error of medians and quantiles, as a share of the rows
_SOURCE = Source("distributed table", noun="table", lines=False)


def fit_preprocessor(
    frame: Any,
    schema: FeatureSchema,
    transform: str = "none",
    relative_error: float = MEDIAN_RELATIVE_ERROR,
) -> Any:
    """The bundle's preprocessor for ``schema``'s columns of ``frame``, fitted from Spark
    aggregations (see the module's description); a few Spark jobs, none of which returns rows.

    Raises:
        UserError: a numeric column has no value in any row.
    """
    numeric, categorical = list(schema.numeric), list(schema.categorical)
    medians = _medians(frame, numeric, relative_error)
    rows = int(frame.count()) if transform == "quantile" else 0  # its quantiles: min(1000, rows)
    preprocessor = build_preprocessor(schema, transform, rows)
    template = _template(schema, [distinct_values(frame, column) for column in categorical])
    with warnings.catch_warnings():  # the quantile transform's warning: fewer rows than quantiles
        warnings.simplefilter("ignore", UserWarning)
        preprocessor.fit(template)
    if not numeric:
        return preprocessor
    steps = preprocessor.named_steps["columns"].named_transformers_["numeric"]
    steps.named_steps["impute"].statistics_ = medians
    if transform == "quantile":
        _set_quantiles(steps.named_steps["quantile"], frame, numeric, medians, relative_error)
    if transform == "quantile":  # no Spark expression for it: the tasks apply the fitted steps
        count, mean, squares = _moments(frame, numeric, steps[:-1])
        variance = squares / count
    else:
        count, mean, variance = _aggregated_moments(frame, numeric, medians, transform)
    scaler = steps.named_steps["scale"]
    scaler.mean_, scaler.var_ = mean, variance
    deviations = np.sqrt(scaler.var_)
    scaler.scale_ = np.where(deviations < 10 * np.finfo(np.float64).eps, 1.0, deviations)
    scaler.n_samples_seen_ = count
    return preprocessor


def network_rows(frame: Any, schema: FeatureSchema, preprocessor: Any, kept: list[str]) -> Any:
    """``frame`` with its feature columns replaced by the network's input (``features``,
    ``array<float>``), computed by ``preprocessor`` in the tasks; the ``kept`` columns (integer
    or float) follow it unchanged."""
    import pyarrow as pa

    columns = list(schema.columns)
    categorical = set(schema.categorical)
    types = {field.name: field.dataType.simpleString() for field in frame.schema.fields}
    out = ", ".join(["features array<float>", *[f"{name} {types[name]}" for name in kept]])

    def task(batches: Iterator[Any]) -> Iterator[Any]:
        for batch in batches:
            table = batch.to_pandas()
            features, _ = prepare_features(table[columns], _SOURCE, categorical)
            matrix = np.ascontiguousarray(preprocessor.transform(features), dtype=np.float32)
            width = max(1, matrix.shape[1])
            flat = pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), width)
            arrays = [flat.cast(pa.list_(pa.float32())), *[batch.column(n) for n in kept]]
            yield pa.RecordBatch.from_arrays(arrays, names=["features", *kept])

    return frame.select(*columns, *kept).mapInArrow(task, out)


def _medians(frame: Any, numeric: list[str], relative_error: float) -> np.ndarray:
    """The approximate median of each numeric column, NaN counted as missing."""
    if not numeric:
        return np.zeros(0)
    medians = _as_null_if_nan(frame, numeric).approxQuantile(numeric, [0.5], relative_error)
    empty = [c for c, median in zip(numeric, medians, strict=True) if not median]
    if empty:
        raise UserError(f"{empty[0]}: the column has no value in any row; list it under data.drop")
    return np.array([m[0] for m in medians], dtype=np.float64)


def _set_quantiles(
    quantile: Any, frame: Any, numeric: list[str], medians: np.ndarray, relative_error: float
) -> None:
    """Give the quantile transform the quantiles of the imputed columns, at its references."""
    from pyspark.sql import functions as F

    references = np.linspace(0, 1, quantile.n_quantiles)
    filled = _as_null_if_nan(frame, numeric).select(
        *[
            F.coalesce(F.col(c), F.lit(float(m))).alias(c)
            for c, m in zip(numeric, medians, strict=True)
        ]
    )
    found = filled.approxQuantile(numeric, references.tolist(), relative_error)
    quantile.quantiles_ = np.maximum.accumulate(np.array(found, dtype=np.float64).T, axis=0)
    quantile.references_ = references
    quantile.n_quantiles_ = len(references)


def _aggregated_moments(
    frame: Any, numeric: list[str], medians: np.ndarray, transform: str
) -> tuple[int, np.ndarray, np.ndarray]:
    """Rows, means and population variances of the numeric columns after imputation and the
    ``none``, ``log1p`` or ``sqrt`` transform, written as Spark expressions (one aggregation)."""
    from pyspark.sql import functions as F

    shapes = {"none": lambda x: x, "log1p": F.log1p, "sqrt": F.sqrt}
    shape = shapes[transform]
    columns = _as_null_if_nan(frame, numeric)
    aggregates = [F.count(F.lit(1)).alias("rows")]
    for index, (name, median) in enumerate(zip(numeric, medians, strict=True)):
        filled = F.coalesce(F.col(name), F.lit(float(median)))
        value = F.signum(filled) * shape(F.abs(filled)) if transform != "none" else filled
        aggregates += [F.avg(value).alias(f"m{index}"), F.var_pop(value).alias(f"v{index}")]
    row = columns.agg(*aggregates).first()
    width = len(numeric)
    mean = np.array([row[f"m{i}"] for i in range(width)], dtype=np.float64)
    variance = np.array([row[f"v{i}"] for i in range(width)], dtype=np.float64)
    return int(row["rows"]), mean, variance


def _moments(frame: Any, numeric: list[str], shaped: Any) -> tuple[int, np.ndarray, np.ndarray]:
    """Rows, means and summed squared deviations of ``shaped`` (the fitted numeric steps before
    scaling) over ``frame``'s rows: each task's own, merged here."""
    import pyarrow as pa

    width = len(numeric)

    def task(batches: Iterator[Any]) -> Iterator[Any]:
        count, mean, squares = 0, np.zeros(width), np.zeros(width)
        for batch in batches:
            values = batch.to_pandas().astype(np.float64)
            count, mean, squares = _merged(count, mean, squares, shaped.transform(values))
        yield pa.RecordBatch.from_pydict(
            {
                "rows": pa.array([count], pa.int64()),
                "mean": pa.array([mean.tobytes()], pa.binary()),
                "squares": pa.array([squares.tobytes()], pa.binary()),
            }
        )

    parts = frame.select(*numeric).mapInArrow(task, "rows long, mean binary, squares binary")
    count, mean, squares = 0, np.zeros(width), np.zeros(width)
    for part in parts.collect():
        other = (np.frombuffer(part["mean"]), np.frombuffer(part["squares"]))
        count, mean, squares = _combined((count, mean, squares), (int(part["rows"]), *other))
    return count, mean, squares


def _merged(
    count: int, mean: np.ndarray, squares: np.ndarray, block: np.ndarray
) -> tuple[int, np.ndarray, np.ndarray]:
    """The running moments with ``block``'s rows added."""
    if not len(block):
        return count, mean, squares
    block_mean = block.mean(axis=0)
    block_squares = ((block - block_mean) ** 2).sum(axis=0)
    return _combined((count, mean, squares), (len(block), block_mean, block_squares))


def _combined(
    first: tuple[int, np.ndarray, np.ndarray], second: tuple[int, np.ndarray, np.ndarray]
) -> tuple[int, np.ndarray, np.ndarray]:
    """Two parts' rows, means and summed squared deviations as one's (Chan et al.)."""
    (n_a, mean_a, squares_a), (n_b, mean_b, squares_b) = first, second
    if not n_a or not n_b:
        return first if n_a else second
    total = n_a + n_b
    delta = mean_b - mean_a
    mean = mean_a + delta * n_b / total
    squares = squares_a + squares_b + delta**2 * n_a * n_b / total
    return total, mean, squares


def distinct_values(frame: Any, column: str) -> list[Any]:
    """A categorical column's distinct values as text, most frequent first (missing as
    ``None``, a value of its own)."""
    from pyspark.sql import functions as F

    counted = frame.groupBy(F.col(column).cast("string").alias("value")).count()
    return [row["value"] for row in counted.orderBy(F.desc("count"), "value").collect()]


def _template(schema: FeatureSchema, categories: list[list[Any]]) -> pd.DataFrame:
    """A frame the preprocessor is fitted on to take its shape: each categorical column lists
    its values (repeating its first), each numeric column alternates 0 and 1."""
    length = max([2, *[len(values) for values in categories]])
    columns: dict[str, Any] = {}
    found = dict(zip(schema.categorical, categories, strict=True))
    for name in schema.columns:
        if name in found:
            values = found[name] or [None]
            columns[name] = pd.Series(values + values[:1] * (length - len(values)), dtype=object)
        else:
            columns[name] = np.arange(length, dtype=np.float64) % 2
    return pd.DataFrame(columns)[list(schema.columns)]


def _as_null_if_nan(frame: Any, numeric: list[str]) -> Any:
    """``frame``'s numeric columns as doubles, NaN as null, so that Spark's aggregates skip it
    as scikit-learn's imputer does."""
    from pyspark.sql import functions as F

    def as_null(name: str) -> Any:
        value = F.col(name).cast("double")
        return F.when(F.isnan(value), F.lit(None)).otherwise(value).alias(name)

    return frame.select(*[as_null(c) for c in numeric])
