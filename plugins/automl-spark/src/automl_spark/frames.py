"""A fold's rows as a cached, fold-tagged Spark DataFrame, and a partition's rows in a task.

Every Spark backend trains from such a frame: one row per training example with its features
(``array<float>``), its class code, its loss weight and its fold. A task reads its own partition
with :func:`read_partition`; rows whose fold is the validation fold are scored, rows with a fold
below zero (a holdout) are neither trained nor scored, the others are trained. A frame made from
rows already in the driver (:func:`frame_from_arrays`) is cached once per fold, so each epoch
moves only the model's state, never the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FEATURES, LABEL, WEIGHT, FOLD = "features", "label", "weight", "fold"
TRAIN_FOLD, VALID_FOLD = 1, 0  # the tags of rows a driver sends: train, or score


@dataclass(frozen=True)
class PartitionRows:
    """One partition's rows in a Spark task: features, class codes, loss weights and folds."""

    x: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    folds: np.ndarray

    def split(self, valid_fold: int | None) -> tuple[PartitionRows, PartitionRows]:
        """``(training rows, validation rows)``: validation is fold ``valid_fold`` (none when
        ``None``); training is every other fold that is not below zero."""
        kept = self.folds >= 0
        valid = self.folds == valid_fold if valid_fold is not None else np.zeros_like(kept)
        return self._take(kept & ~valid), self._take(valid)

    def _take(self, mask: np.ndarray) -> PartitionRows:
        return PartitionRows(self.x[mask], self.y[mask], self.weights[mask], self.folds[mask])


def training_rows(valid_fold: int | None) -> Any:
    """A Spark condition: the rows a fold trains on (a fold not below zero, and not
    ``valid_fold``), as :meth:`PartitionRows.split` picks them in a task."""
    from pyspark.sql import functions as F

    training = F.col(FOLD) >= 0
    return training if valid_fold is None else training & (F.col(FOLD) != valid_fold)


def frame_from_arrays(
    session: Any,
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None,
    folds: np.ndarray,
    partitions: int,
    seed: int,
    shuffle: bool,
) -> Any:
    """The driver's rows as a cached DataFrame of ``partitions`` partitions.

    With ``shuffle`` the rows are spread among the partitions in a seeded random order; without,
    one partition keeps the rows' own order (several take them round-robin).
    """
    import pyarrow as pa

    order = np.random.default_rng(seed).permutation(len(x)) if shuffle else np.arange(len(x))
    values = np.ascontiguousarray(x[order], dtype=np.float32)
    features = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), max(1, x.shape[1]))
    loss_weights = np.ones(len(x)) if weights is None else weights[order]
    table = pa.table(
        {
            FEATURES: features.cast(pa.list_(pa.float32())),
            LABEL: pa.array(y[order], pa.int32()),
            WEIGHT: pa.array(loss_weights, pa.float32()),
            FOLD: pa.array(folds[order], pa.int32()),
        }
    )
    frame = session.createDataFrame(table)
    frame = frame.repartition(partitions)  # one partition keeps the order; several: round-robin
    return frame.persist()


def read_partition(batches: Any, n_features: int) -> PartitionRows:
    """A task's Arrow record batches as NumPy arrays (an empty partition gives no rows)."""
    import pyarrow as pa

    table = pa.Table.from_batches(list(batches))
    if table.num_rows == 0:
        empty = np.zeros(0)
        return PartitionRows(np.zeros((0, n_features), np.float32), empty, empty, empty)
    features = table.column(FEATURES).combine_chunks().flatten()
    x = features.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return PartitionRows(
        x.reshape(table.num_rows, n_features),
        table.column(LABEL).to_numpy().astype(np.int64),
        table.column(WEIGHT).to_numpy().astype(np.float32),
        table.column(FOLD).to_numpy().astype(np.int64),
    )
