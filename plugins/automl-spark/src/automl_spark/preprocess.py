"""Preprocessing fitted where the rows are: the bundle's preprocessor from Spark aggregations.

A table on the executors is never collected to fit the preprocessor. Its statistics are: the
median of every numeric column (``approxQuantile``, NaN counted as missing), then, in one
aggregation, the mean and population variance of every column after the medians fill its
missing values. They are set on the same scikit-learn preprocessor a bundle always holds
(:func:`automl.data.build_preprocessor`: median imputation, then standard scaling), so
``automl predict`` and ``automl serve`` read the result without Spark. The same arithmetic,
written as Spark column expressions, turns the table's rows into the network's input on the
executors.

Medians are approximate: ``approxQuantile`` with relative error ``e`` returns a value whose rank
is within ``e * rows`` of the true median's (Greenwald-Khanna). Means and variances are exact
sums, up to floating-point order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from automl.data import FeatureSchema, build_preprocessor
from automl.errors import UserError

MEDIAN_RELATIVE_ERROR = 1e-4  # the rank error of the medians, as a share of the rows


@dataclass(frozen=True)
class ColumnStatistics:
    """What the preprocessor learns from a table's numeric columns, in column order."""

    columns: tuple[str, ...]
    medians: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    rows: int

    @property
    def scales(self) -> np.ndarray:
        """Standard deviations, with 1 where a column is constant (as scikit-learn scales)."""
        deviations = np.sqrt(self.variances)
        return np.where(deviations < 10 * np.finfo(np.float64).eps, 1.0, deviations)


def column_statistics(
    frame: Any, columns: list[str], relative_error: float = MEDIAN_RELATIVE_ERROR
) -> ColumnStatistics:
    """Medians, means and variances of ``frame``'s numeric ``columns``, in two Spark jobs.

    Raises:
        UserError: a column has no value at all (nothing to learn a median from).
    """
    from pyspark.sql import functions as F

    missing_as_null = frame.select(*[_missing_as_null(F.col(c)).alias(c) for c in columns])
    medians = missing_as_null.approxQuantile(columns, [0.5], relative_error)
    empty = [c for c, median in zip(columns, medians, strict=True) if not median]
    if empty:
        raise UserError(f"features: column '{empty[0]}' has no value in any row")
    median = np.array([m[0] for m in medians], dtype=np.float64)
    filled = [F.coalesce(F.col(c), F.lit(float(m))) for c, m in zip(columns, median, strict=True)]
    aggregates = [F.count(F.lit(1)).alias("rows")]
    for index, value in enumerate(filled):
        aggregates += [F.avg(value).alias(f"m{index}"), F.var_pop(value).alias(f"v{index}")]
    row = missing_as_null.agg(*aggregates).first()
    count = len(columns)
    return ColumnStatistics(
        columns=tuple(columns),
        medians=median,
        means=np.array([row[f"m{i}"] for i in range(count)], dtype=np.float64),
        variances=np.array([row[f"v{i}"] for i in range(count)], dtype=np.float64),
        rows=int(row["rows"]),
    )


def fitted_preprocessor(statistics: ColumnStatistics) -> Any:
    """The bundle's preprocessor for these numeric columns, fitted from ``statistics``.

    The scikit-learn pipeline is fitted on two rows to set up its structure, then given the
    table's medians, means and scales.
    """
    schema = FeatureSchema(statistics.columns, ())
    preprocessor = build_preprocessor(schema)
    template = pd.DataFrame(np.tile([[0.0], [1.0]], (1, len(statistics.columns))))
    preprocessor.fit(template.set_axis(list(statistics.columns), axis=1))
    numeric = preprocessor.named_steps["columns"].named_transformers_["numeric"]
    numeric.named_steps["impute"].statistics_ = statistics.medians.copy()
    scaler = numeric.named_steps["scale"]
    scaler.mean_ = statistics.means.copy()
    scaler.var_ = statistics.variances.copy()
    scaler.scale_ = statistics.scales
    scaler.n_samples_seen_ = statistics.rows
    return preprocessor


def standardized(statistics: ColumnStatistics) -> Any:
    """A Spark column: the network's input of a row (``array<float>``), computed as
    :func:`fitted_preprocessor` computes it (missing values to medians, then scaling)."""
    from pyspark.sql import functions as F

    values = []
    for column, median, mean, scale in zip(
        statistics.columns, statistics.medians, statistics.means, statistics.scales, strict=True
    ):
        filled = F.coalesce(_missing_as_null(F.col(column)), F.lit(float(median)))
        values.append((filled - F.lit(float(mean))) / F.lit(float(scale)))
    return F.array(*values).cast("array<float>")


def _missing_as_null(column: Any) -> Any:
    """NaN as null, so that Spark's aggregates skip it as scikit-learn's imputer does."""
    from pyspark.sql import functions as F

    as_double = column.cast("double")
    return F.when(F.isnan(as_double), F.lit(None)).otherwise(as_double)
