"""What runs in Spark's tasks for ``spark-async``: a parameter server in task 0, and in every
task: pull, train a round, push, repeat; then the validation rows scored where they are.

Task 0 starts the epoch's :class:`~automl_spark.paramserver.ParameterServer` (the driver's
weights, the run's secret) on its executor, at the port the driver chose; the other tasks know
its host from the barrier job's task list, so no Spark barrier call is needed. Every task trains
its own rows against it without waiting for the others and closes its connection when done;
task 0 then returns the server's weights and stops it. A second, plain job scores each
partition's validation rows with those weights. The worker's Keras model comes from
:mod:`automl_spark._worker`; its optimizer state stays in the worker, reset to a new optimizer's
when the worker first trains for a fold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automl_spark.barrier import (
    EpochPlan,
    Rendezvous,
    derived_seed,
    epoch_order,
    epoch_row,
    fit_rows,
    round_slice,
    score_rows,
)
from automl_spark.frames import PartitionRows, read_partition
from automl_spark.paramserver import ParameterClient, ParameterServer

# In a Spark worker: the (model, fold) its model's optimizer state belongs to.
_optimizer_fold: tuple[int, str] | None = None


@dataclass(frozen=True)
class ServerLink:
    """How a fold's tasks train against its parameter server; travels in the task closure.

    ``fresh`` is a new model's state (weights and optimizer slots) a worker starts a fold from.
    """

    fold: str
    fresh: np.ndarray = field(repr=False)
    hogwild: bool
    max_staleness: int


def async_epoch(
    plan: EpochPlan,
    link: ServerLink,
    meeting: Rendezvous,
    weights: list[np.ndarray],
    epoch: int,
    learning_rate: float,
) -> Callable[..., Any]:
    """The barrier task of one asynchronous epoch from the driver's ``weights`` at
    ``learning_rate``."""

    def task(batches: Iterator[Any]) -> Iterator[Any]:
        from pyspark import BarrierTaskContext

        context = BarrierTaskContext.get()
        rows = read_partition(batches, plan.n_features)
        yield train_partition(plan, link, meeting, weights, rows, epoch, learning_rate, context)

    return task


def score_epoch(plan: EpochPlan, weights: list[np.ndarray]) -> Callable[..., Any]:
    """The (plain) task that scores a partition's validation rows with ``weights``."""

    def task(batches: Iterator[Any]) -> Iterator[Any]:
        from pyspark import TaskContext

        from automl_spark import _worker

        rows = read_partition(batches, plan.n_features)
        _, valid = rows.split(plan.valid_fold)
        _worker.keras_with_threads(plan.threads)
        model = _worker.model_for(
            plan.spec, plan.n_features, plan.n_classes, plan.eager, plan.threads
        )
        model.set_weights(weights)
        val_loss, val_correct = score_rows(model, valid)
        index = TaskContext.get().partitionId()  # type: ignore[union-attr]  # set in a task
        yield epoch_row(index, val_rows=len(valid.y), val_loss=val_loss, val_correct=val_correct)

    return task


def train_partition(
    plan: EpochPlan,
    link: ServerLink,
    meeting: Rendezvous,
    weights: list[np.ndarray],
    rows: PartitionRows,
    epoch: int,
    learning_rate: float,
    context: Any,
) -> Any:
    """In a barrier task: train this partition against the epoch's server (task 0 hosts it,
    and returns its final weights)."""
    index, tasks = context.partitionId(), len(context.getTaskInfos())
    address = meeting.address(context)
    server = _start_server(link, meeting, address, weights, tasks) if index == 0 else None
    shapes = [w.shape for w in weights]
    try:
        train, _ = rows.split(plan.valid_fold)
        trained, loss, accuracy = train_against_server(
            plan, link, meeting, address, shapes, index, train, epoch, learning_rate
        )
        flat = None
        if server is not None:
            if not server.wait_for_departures(tasks, meeting.timeout):
                raise TimeoutError(f"the other tasks did not finish within {meeting.timeout:g} s")
            flat = np.concatenate([w.ravel() for w in server.weights()])
    finally:
        if server is not None:
            server.close()
    return epoch_row(index, trained, loss, accuracy, state=flat)


def _start_server(
    link: ServerLink,
    meeting: Rendezvous,
    address: tuple[str, int],
    weights: list[np.ndarray],
    tasks: int,
) -> ParameterServer:
    """Task 0: the epoch's server, listening at ``address``."""
    server = ParameterServer(
        weights,
        secret=meeting.secret,
        host=address[0],
        port=address[1],
        hogwild=link.hogwild,
        max_staleness=link.max_staleness,
        timeout=meeting.timeout,
        max_connections=max(64, 4 * tasks),
    )
    server.start()
    return server


def train_against_server(
    plan: EpochPlan,
    link: ServerLink,
    meeting: Rendezvous,
    address: tuple[str, int],
    shapes: list[tuple[int, ...]],
    index: int,
    rows: PartitionRows,
    epoch: int,
    learning_rate: float,
) -> tuple[int, float, float]:
    """Pull, train a round, push, until this partition's epoch is done, at the driver's
    ``learning_rate``; the rows trained, and the sums of loss and accuracy over them."""
    from automl_spark import _worker

    keras = _worker.keras_with_threads(plan.threads)
    model = _worker.model_for(plan.spec, plan.n_features, plan.n_classes, plan.eager, plan.threads)
    _join_fold(model, link)
    model.optimizer.learning_rate.assign(learning_rate)
    order = epoch_order(plan, len(rows.y), derived_seed(plan.seed, epoch, index))
    keras.utils.set_random_seed(derived_seed(plan.seed, epoch, index, 1))
    trained = loss = accuracy = 0.0
    with ParameterClient(address, meeting.secret, shapes, timeout=meeting.timeout) as client:
        for round_ in range(_rounds(len(rows.y), plan)):
            version, weights = client.pull()
            picked = round_slice(plan, order, round_)
            model.set_weights(weights)
            logs = fit_rows(model, plan, rows, picked)
            new = model.get_weights()
            client.push(
                version, [after - before for after, before in zip(new, weights, strict=True)]
            )
            trained += len(picked)
            loss += logs["loss"] * len(picked)
            accuracy += logs["accuracy"] * len(picked)
    return int(trained), loss, accuracy


def _join_fold(model: Any, link: ServerLink) -> None:
    """Give the worker's model a fresh optimizer when it first trains for this fold."""
    global _optimizer_fold
    if _optimizer_fold != (id(model), link.fold):
        from automl_spark.state import set_state

        set_state(model, link.fresh)
        model.optimizer.iterations.assign(0)
        _optimizer_fold = (id(model), link.fold)


def _rounds(rows: int, plan: EpochPlan) -> int:
    batches = math.ceil(rows / plan.spec.batch_size)
    return math.ceil(batches / (plan.batches_per_round or batches or 1))
