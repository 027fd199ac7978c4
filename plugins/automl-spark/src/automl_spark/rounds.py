"""Synchronous data-parallel rounds on Spark: shards broadcast once per fold, weights every round.

A fold's training rows are split into one shard per partition and broadcast once; Spark keeps a
broadcast in each Python worker that has read it, so later rounds move only the weights. In each
round every partition loads the driver's state (weights and optimizer slots), trains its shard's
batches of the round, and returns its new state as raw float32 bytes; the driver averages the
states weighted by the rows each partition trained.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from automl.keras import releasing_traced_graphs
from automl.spec import ModelSpec
from automl_spark.state import weighted_mean

# A partition's training rows: features, class codes and loss weights (``None``: all 1).
Shard = tuple[np.ndarray, np.ndarray, np.ndarray | None]


@dataclass(frozen=True)
class RoundPlan:
    """What every partition needs to know to train its part of a round (plain data)."""

    spec: ModelSpec
    n_features: int
    n_classes: int
    seed: int
    shuffle: bool
    batches_per_round: int | None
    eager: bool
    threads: int


@dataclass(frozen=True)
class RoundResult:
    """One partition's round: rows trained, new state (float32 bytes), summed loss and accuracy."""

    rows: int
    state: bytes
    loss_sum: float
    accuracy_sum: float
    steps: int


class ShardedFold:
    """A fold's training rows on Spark: one broadcast shard per partition, destroyed by close().

    Args:
        context: the SparkContext.
        x, y: the training rows.
        weights: each row's loss weight, or ``None`` (every row weighs 1).
        partitions: how many shards (each partition trains one).
        seed: seeds the assignment of rows to shards.
        shuffle: assign rows to shards at random; otherwise shard ``i`` holds the ``i``-th block
            of rows in order.
    """

    def __init__(
        self,
        context: Any,
        x: np.ndarray,
        y: np.ndarray,
        weights: np.ndarray | None,
        partitions: int,
        seed: int,
        shuffle: bool,
    ) -> None:
        rows = len(x)
        order = np.random.default_rng(seed).permutation(rows) if shuffle else np.arange(rows)
        blocks = np.array_split(order, max(1, min(partitions, rows)))
        self.context = context
        self.sizes = [len(block) for block in blocks]
        self.shards = [
            context.broadcast((x[block], y[block], None if weights is None else weights[block]))
            for block in blocks
        ]

    def rounds_per_epoch(self, batch_size: int, batches_per_round: int | None) -> int:
        """Rounds that make one pass over the largest shard."""
        if batches_per_round is None:
            return 1
        return math.ceil(math.ceil(max(self.sizes) / batch_size) / batches_per_round)

    def run_round(
        self, plan: RoundPlan, state: np.ndarray, step: int, epoch: int, round_: int
    ) -> list[RoundResult]:
        """Train one round on every partition from ``state``; the partitions' results."""
        weights = self.context.broadcast(state)
        try:
            shards = self.shards

            def task(index: int, _: Iterator[Any]) -> Iterator[RoundResult]:
                shard = shards[index].value
                yield train_shard(plan, index, shard, weights.value, step, epoch, round_)

            job = self.context.parallelize(range(len(shards)), len(shards))
            return job.mapPartitionsWithIndex(task).collect()
        finally:
            weights.destroy()

    def close(self) -> None:
        """Remove the shards from the executors and workers."""
        for shard in self.shards:
            shard.destroy()
        self.shards = []


def average(results: list[RoundResult]) -> tuple[np.ndarray, int, float, float, int]:
    """Average the states by rows: ``(state, rows, loss_sum, accuracy_sum, mean steps)``."""
    trained = [r for r in results if r.rows > 0]
    rows = [r.rows for r in trained]
    state = weighted_mean([np.frombuffer(r.state, dtype=np.float32) for r in trained], rows)
    steps = round(sum(r.steps * r.rows for r in trained) / sum(rows))
    loss = sum(r.loss_sum for r in trained)
    accuracy = sum(r.accuracy_sum for r in trained)
    return state, sum(rows), loss, accuracy, steps


def train_shard(
    plan: RoundPlan,
    index: int,
    shard: Shard,
    state: np.ndarray,
    step: int,
    epoch: int,
    round_: int,
) -> RoundResult:
    """Runs on a Spark worker: load ``state``, train this round's batches of shard ``index``."""
    from automl_spark import _worker
    from automl_spark.state import get_state, set_state

    x, y, row_weights = shard
    keras = _worker.keras_with_threads(plan.threads)
    rows = round_rows(plan, len(x), epoch, round_, derived_seed(plan.seed, epoch, index))
    if len(rows) == 0:
        return RoundResult(0, b"", 0.0, 0.0, 0)
    model = _worker.model_for(plan.spec, plan.n_features, plan.n_classes, plan.eager, plan.threads)
    set_state(model, state)
    model.optimizer.iterations.assign(step)
    keras.utils.set_random_seed(derived_seed(plan.seed, epoch, index, round_))
    with releasing_traced_graphs():
        logs = model.fit(
            x[rows],
            y[rows],
            sample_weight=None if row_weights is None else row_weights[rows],
            batch_size=plan.spec.batch_size,
            epochs=1,
            shuffle=False,
            verbose=0,
        ).history
    return RoundResult(
        rows=len(rows),
        state=get_state(model).tobytes(),
        loss_sum=float(logs["loss"][0]) * len(rows),
        accuracy_sum=float(logs["accuracy"][0]) * len(rows),
        steps=math.ceil(len(rows) / plan.spec.batch_size),
    )


def round_rows(plan: RoundPlan, n: int, epoch: int, round_: int, seed: int) -> np.ndarray:
    """This round's rows of a shard of ``n``: its slice of the epoch's (shuffled) order."""
    order = np.random.default_rng(seed).permutation(n) if plan.shuffle else np.arange(n)
    if plan.batches_per_round is None:
        return order
    size = plan.batches_per_round * plan.spec.batch_size
    return order[round_ * size : (round_ + 1) * size]


def derived_seed(*numbers: int) -> int:
    """A 32-bit seed derived from ``numbers`` (a shard's order per epoch, a round's dropout)."""
    return int(np.random.SeedSequence(list(numbers)).generate_state(1)[0])
