"""Scoring a model where the rows are: each task counts its rows of one fold.

One plain Spark job: every task predicts its partition's rows of the fold with the model's
weights and returns the confusion counts and the summed log-loss, which the driver adds up into
:class:`automl.metrics.ScoreCounts`. No row, and no probability, leaves the executors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from automl.metrics import ScoreCounts
from automl_spark.barrier import EpochPlan
from automl_spark.frames import read_partition

SCORE_SCHEMA = "loss double, confusion binary"


def score_frame(frame: Any, plan: EpochPlan, weights: list[np.ndarray], fold: int) -> ScoreCounts:
    """The counts of the model ``plan`` describes, with ``weights``, on ``frame``'s rows of
    ``fold``."""
    classes = plan.n_classes
    total = ScoreCounts(np.zeros((classes, classes), dtype=np.int64), 0.0)
    for row in frame.mapInArrow(_score_task(plan, weights, fold), SCORE_SCHEMA).collect():
        confusion = np.frombuffer(row["confusion"], dtype=np.int64).reshape(classes, classes)
        total = total + ScoreCounts(confusion, float(row["loss"]))
    return total


def counts_of(proba: np.ndarray, y: np.ndarray) -> ScoreCounts:
    """The confusion counts and summed log-loss of class probabilities ``proba`` for the true
    class codes ``y`` (probabilities clipped to ``[eps, 1]`` as scikit-learn clips float64)."""
    classes = proba.shape[1]
    picked = np.clip(proba[np.arange(len(y)), y], np.finfo(np.float64).eps, 1.0)
    pairs = y * classes + proba.argmax(axis=1)
    confusion = np.bincount(pairs, minlength=classes * classes).reshape(classes, classes)
    return ScoreCounts(confusion.astype(np.int64), float(-np.sum(np.log(picked))))


def _score_task(
    plan: EpochPlan, weights: list[np.ndarray], fold: int
) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The task that counts a partition's rows of ``fold``."""

    def task(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        from automl.keras import predict_proba
        from automl_spark import _worker

        rows = read_partition(batches, plan.n_features)
        picked = rows.folds == fold
        x, y = rows.x[picked], rows.y[picked]
        classes = plan.n_classes
        counts = ScoreCounts(np.zeros((classes, classes), dtype=np.int64), 0.0)
        if len(y):
            model = _worker.model_for(plan.spec, plan.n_features, classes, plan.eager, plan.threads)
            model.set_weights(weights)
            counts = counts_of(predict_proba(model, x), y)
        yield pa.RecordBatch.from_pydict(
            {
                "loss": pa.array([counts.loss_sum], pa.float64()),
                "confusion": pa.array([counts.confusion.tobytes()], pa.binary()),
            }
        )

    return task
