"""The ``spark-async`` backend: asynchronous data-parallel training against a parameter server.

A fold's rows are the same cached, fold-tagged DataFrame as for ``spark-sync``, and each epoch is
one barrier job over its partitions (:mod:`automl_spark._async_worker`): task 0 starts a
:class:`~automl_spark.paramserver.ParameterServer` on its executor with the driver's weights,
the tasks learn its address through ``allGather``, and every task, without waiting for the
others, pulls the weights, trains ``batches_per_round`` batches of its rows, pushes the change
and repeats until its rows are done; the server applies each change by the staleness rule (or
without a lock in hogwild mode). The tasks then score their validation rows with the final
weights, which task 0 returns to the driver. The driver applies the local backend's early
stopping, NaN stop, learning-rate schedule and epoch report. A failed task fails the barrier
stage, and the driver runs the epoch again from its start.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from automl.errors import UserError
from automl_spark._async_worker import ServerLink, async_epoch, score_epoch
from automl_spark.barrier import (
    EPOCH_SCHEMA,
    EpochPlan,
    collect_epoch,
    run_barrier_epoch,
    validation_logs,
)
from automl_spark.epochs import run_epochs
from automl_spark.paramserver import new_secret
from automl_spark.state import get_state
from automl_spark.synchronous import SparkSyncBackend


class SparkAsyncBackend(SparkSyncBackend):
    """Train each fold asynchronously on Spark: workers pull and push through a parameter server.

    Args:
        master: the Spark master URL (``local[*]``, ``local[N]``, ``spark://host:port``, ``yarn``,
            ``k8s://...``); by default the SparkSession running in this process, else
            ``local[*]``.
        conf: Spark settings passed through (executor memory and cores, ...).
        partitions: shards per fold, each trained by one task (default: Spark's default
            parallelism, i.e. the cores Spark has).
        batches_per_round: batches a worker trains between a pull and its push (fewer exchanges
            cost less; more make the training more asynchronous).
        shuffle: shuffle each shard every epoch, and the rows among shards.
        threads_per_worker: TensorFlow threads per Python worker (default: the cores a task has).
        start_timeout: seconds to wait for the master and its executors before giving up.
        hogwild: apply the workers' updates without a lock.
        max_staleness: updates computed from weights more than this many updates old are
            dropped; younger ones are scaled by 1 / (1 + staleness).
        server_host: the address the parameter server (in task 0) binds and the other tasks
            connect to (default: 127.0.0.1 for a local master, else task 0's executor host as
            Spark knows it).
        server_port: the server's port; 0 lets the driver choose one per epoch (a free one on
            this machine for a local master, else one of the dynamic range 49152-65535).
        socket_timeout: seconds any exchange with the server may take, including a worker's
            training between two messages.
        epoch_timeout: seconds an epoch may take before the fold fails (default: no limit).
        epoch_retries: how many times an epoch whose task failed runs again from its start.
    """

    name = "spark-async"

    def __init__(
        self,
        master: str | None = None,
        conf: dict[str, str] | None = None,
        partitions: int | None = None,
        batches_per_round: int = 20,
        shuffle: bool = True,
        threads_per_worker: int | None = None,
        start_timeout: float = 60.0,
        hogwild: bool = False,
        max_staleness: int = 16,
        server_host: str | None = None,
        server_port: int = 0,
        socket_timeout: float = 120.0,
        epoch_timeout: float | None = None,
        epoch_retries: int = 2,
    ) -> None:
        super().__init__(
            master,
            conf,
            partitions,
            batches_per_round,
            shuffle,
            threads_per_worker,
            start_timeout,
            epoch_retries,
            server_host,
            server_port,
            socket_timeout,
        )
        for name, value, low in [
            ("max_staleness", max_staleness, 0),
            ("epoch_timeout", epoch_timeout, 1e-3),
        ]:
            if value is not None and value < low:
                raise UserError(f"backend.options.{name}: must be at least {low:g}, got {value!r}")
        self.hogwild = hogwild
        self.max_staleness = max_staleness
        self.epoch_timeout = epoch_timeout

    def _epochs(
        self, model: Any, plan: EpochPlan, frame: Any, epochs: int, callbacks: list[Any]
    ) -> dict[str, list[float]]:
        """The driver's epoch loop over ``frame``: one barrier job per epoch, each with its own
        parameter server started from the driver's weights, then a job scoring the validation
        rows with the server's final weights."""
        import keras

        link = ServerLink(uuid.uuid4().hex, get_state(model), self.hogwild, self.max_staleness)
        secret = new_secret()
        shapes = [w.shape for w in model.get_weights()]

        def train_epoch(epoch: int) -> dict[str, float]:
            rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
            weights = model.get_weights()

            def make_task() -> Any:
                return async_epoch(plan, link, self._rendezvous(secret), weights, epoch, rate)

            trained = collect_epoch(
                run_barrier_epoch(
                    frame,
                    make_task,
                    EPOCH_SCHEMA,
                    epoch,
                    self.epoch_retries,
                    self.name,
                    self.epoch_timeout,
                )
            )
            model.set_weights(_split(trained.state, shapes))
            logs = trained.logs()
            if plan.valid_fold is not None:
                scored = frame.mapInArrow(score_epoch(plan, model.get_weights()), EPOCH_SCHEMA)
                logs |= validation_logs(scored.collect())
            return logs

        return run_epochs(model, epochs, train_epoch, callbacks)


def _split(flat: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """The weight arrays of ``shapes`` from one flat vector."""
    sizes = [int(np.prod(shape)) for shape in shapes]
    parts = np.split(flat, np.cumsum(sizes)[:-1])
    return [part.reshape(shape) for part, shape in zip(parts, shapes, strict=True)]
