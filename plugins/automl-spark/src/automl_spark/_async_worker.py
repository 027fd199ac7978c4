"""What runs in Spark's Python workers for ``spark-async``: pull, train a round, push, repeat.

The worker's Keras model comes from :mod:`automl_spark._worker` (TensorFlow imported once, the
model kept between tasks); its optimizer state stays in the worker, reset to a new optimizer's
when the worker first trains for a fold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from automl.keras import releasing_traced_graphs
from automl_spark.paramserver import ParameterClient
from automl_spark.rounds import RoundPlan, Shard, derived_seed, round_rows

# In a Spark worker: the (model, fold) its model's optimizer state belongs to.
_optimizer_fold: tuple[int, str] | None = None


@dataclass(frozen=True)
class ServerLink:
    """What a worker needs to join a fold: its id, a new model's state (a broadcast: weights
    and optimizer slots), and how to reach the fold's parameter server. Travels in the task
    closure."""

    fold: str
    fresh: Any
    address: tuple[str, int]
    secret: bytes = field(repr=False)
    shapes: tuple[tuple[int, ...], ...]
    timeout: float


def train_against_server(
    plan: RoundPlan,
    link: ServerLink,
    index: int,
    shard: Shard,
    epoch: int,
    learning_rate: float,
) -> tuple[int, float, float]:
    """Runs on a Spark worker: pull, train a round, push, until shard ``index``'s epoch is done,
    at the driver's ``learning_rate``.

    Returns the rows trained and the sums of loss and accuracy over them.
    """
    from automl_spark import _worker

    x, y, row_weights = shard
    keras = _worker.keras_with_threads(plan.threads)
    model = _worker.model_for(plan.spec, plan.n_features, plan.n_classes, plan.eager, plan.threads)
    _join_fold(model, link)
    model.optimizer.learning_rate.assign(learning_rate)
    order_seed = derived_seed(plan.seed, epoch, index)
    keras.utils.set_random_seed(derived_seed(plan.seed, epoch, index, 1))
    rows = loss = accuracy = 0.0
    with ParameterClient(link.address, link.secret, link.shapes, timeout=link.timeout) as client:
        for round_ in range(_rounds(len(x), plan)):
            version, weights = client.pull()
            picked = round_rows(plan, len(x), epoch, round_, order_seed)
            model.set_weights(weights)
            with releasing_traced_graphs():
                logs = model.fit(
                    x[picked],
                    y[picked],
                    sample_weight=None if row_weights is None else row_weights[picked],
                    batch_size=plan.spec.batch_size,
                    shuffle=False,
                    verbose=0,
                ).history
            trained = model.get_weights()
            client.push(version, [new - old for new, old in zip(trained, weights, strict=True)])
            rows += len(picked)
            loss += float(logs["loss"][0]) * len(picked)
            accuracy += float(logs["accuracy"][0]) * len(picked)
    return int(rows), loss, accuracy


def _join_fold(model: Any, link: ServerLink) -> None:
    """Give the worker's model a fresh optimizer when it first trains for this fold."""
    global _optimizer_fold
    if _optimizer_fold != (id(model), link.fold):
        from automl_spark.state import set_state

        set_state(model, link.fresh.value)
        model.optimizer.iterations.assign(0)
        _optimizer_fold = (id(model), link.fold)


def _rounds(rows: int, plan: RoundPlan) -> int:
    batches = math.ceil(rows / plan.spec.batch_size)
    return math.ceil(batches / (plan.batches_per_round or batches or 1))
