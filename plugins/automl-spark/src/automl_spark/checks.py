"""What the Estimator learns of a table on the executors before training: its classes, and
whether its row weights can train. Each is one small Spark job; only counts and sums come back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from automl.data import check_row_weights, sorted_classes


def distributed_classes(table: Any, label: str) -> tuple[Any, ...]:
    """The distinct labels of ``table`` in the model's class order (natural order, as a table
    read into the driver orders them).

    Raises:
        ValueError: a row has no label, or there are fewer than two classes.
    """
    from pyspark.sql import functions as F

    found = table.groupBy(F.col(label)).count().collect()
    if any(row[label] is None for row in found):
        raise ValueError(f"{label}: some rows have no label; every training row needs one")
    classes = sorted_classes(row[label] for row in found)
    if len(classes) < 2:
        raise ValueError(f"{label}: the rows hold {len(classes)} class; at least 2 are needed")
    return classes


def check_distributed_weights(table: Any, label: str, weight: str, name: str) -> None:
    """Refuse weights that cannot train, with :func:`automl.data.check_row_weights`' messages.

    Per class, Spark sums the weights and counts those that are missing, infinite or negative;
    with none of those, a class's rows all weigh zero exactly when its sum is zero, so the
    per-class sums stand for the rows.

    Raises:
        ValueError: in one line, what is wrong with the weights.
    """
    from pyspark.sql import functions as F

    value = F.col(weight)
    unusable = value.isNull() | F.isnan(value) | (F.abs(value) == float("inf")) | (value < 0)
    sums = table.groupBy(F.col(label)).agg(
        F.sum(F.when(unusable, 1).otherwise(0)).alias("bad"),
        F.sum(F.when(unusable, 0.0).otherwise(value)).alias("total"),
    )
    rows = sums.collect()
    if any(row["bad"] for row in rows):
        check_row_weights(np.array([np.nan]), np.array([None], dtype=object), name)
    totals = np.array([row["total"] for row in rows], dtype=np.float64)
    check_row_weights(totals, np.array([row[label] for row in rows], dtype=object), name)
