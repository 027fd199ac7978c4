"""The ``spark-async`` backend: asynchronous data-parallel training against a parameter server.

For each fold the driver starts a :class:`~automl_spark.paramserver.ParameterServer` holding the
model's weights and broadcasts the training shards once. In each epoch every partition runs as
its own Spark job and, without waiting for the others, pulls the weights, trains
``batches_per_round`` batches of its shard, pushes the change and repeats until its shard is
done; the server applies each change by the staleness rule (or without a lock in hogwild mode).
After the job the driver takes the server's weights, scores the validation rows and applies the
local backend's early stopping, NaN stop and epoch report. Each Python worker keeps its own
optimizer state, reset to a new optimizer's when it first trains for a fold.
"""

from __future__ import annotations

import contextlib
import uuid
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import numpy as np

from automl.errors import TrialFailed, UserError
from automl.spec import ModelSpec
from automl_spark._async_worker import ServerLink, train_against_server
from automl_spark.epochs import run_epochs
from automl_spark.paramserver import ParameterServer, new_secret
from automl_spark.rounds import RoundPlan, ShardedFold
from automl_spark.session import SessionOptions
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
        server_host: the address the parameter server binds and workers connect to (default:
            127.0.0.1 for a local master, else the driver host as Spark sees it).
        server_port: the server's port; 0 lets the system choose one per fold.
        socket_timeout: seconds any exchange with the server may take, including a worker's
            training between two messages.
        epoch_timeout: seconds an epoch may take before the fold fails (default: no limit).
    """

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
    ) -> None:
        super().__init__(
            master, conf, partitions, batches_per_round, shuffle, threads_per_worker, start_timeout
        )
        for name, value, low in [
            ("max_staleness", max_staleness, 0),
            ("server_port", server_port, 0),
            ("socket_timeout", socket_timeout, 1e-3),
            ("epoch_timeout", epoch_timeout, 1e-3),
        ]:
            if value is not None and value < low:
                raise UserError(f"backend.options.{name}: must be at least {low:g}, got {value!r}")
        self.hogwild = hogwild
        self.max_staleness = max_staleness
        self.server_host = server_host
        self.server_port = server_port
        self.socket_timeout = socket_timeout
        self.epoch_timeout = epoch_timeout

    def _train(
        self,
        model: Any,
        spec: ModelSpec,
        x: np.ndarray,
        y: np.ndarray,
        weights: np.ndarray | None,
        settings: Any,
        epochs: int,
        callbacks: list[Any],
        validation: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> dict[str, list[float]]:
        """Run up to ``epochs`` asynchronous epochs on ``model`` (rows weighted by ``weights``);
        return the history."""
        fold, plan = self._shard(model, spec, x, y, weights, settings, epochs)
        context = self.spark.get().sparkContext
        secret = new_secret()
        server = ParameterServer(
            model.get_weights(),
            secret=secret,
            host=self._server_host(context),
            port=self.server_port,
            hogwild=self.hogwild,
            max_staleness=self.max_staleness,
            timeout=self.socket_timeout,
            max_connections=max(64, 2 * len(fold.shards)),
        )
        fresh = context.broadcast(get_state(model))

        import keras

        def train_epoch(epoch: int) -> tuple[int, float, float]:
            rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
            totals = self._run_epoch(context, fold, plan, link, epoch, rate)
            model.set_weights(server.weights())
            return totals

        try:
            with _listening(server):
                link = ServerLink(
                    uuid.uuid4().hex,
                    fresh,
                    server.address,
                    secret,
                    server.layout.shapes,
                    self.socket_timeout,
                )
                return run_epochs(model, epochs, train_epoch, callbacks, validation)
        finally:
            fresh.destroy()
            fold.close()

    def _server_host(self, context: Any) -> str:
        if self.server_host is not None:
            return self.server_host
        if SessionOptions(context.master).is_local:
            return "127.0.0.1"
        return context.getConf().get("spark.driver.host")

    def _run_epoch(
        self,
        context: Any,
        fold: ShardedFold,
        plan: RoundPlan,
        link: ServerLink,
        epoch: int,
        learning_rate: float,
    ) -> tuple[int, float, float]:
        """Train every shard against the server, one Spark job per partition, all at once, at the
        driver's current learning rate (a plateau schedule lowers it between epochs).

        Partitions do not wait for each other, and a partition whose task fails (a lost worker)
        is left out of this epoch: the updates it pushed stay, the others go on. The epoch fails
        when every partition failed, or when it outlasts ``epoch_timeout``.
        """
        shards = fold.shards

        def task(indices: Iterator[int]) -> Iterator[tuple[int, float, float]]:
            index = next(iter(indices))
            yield train_against_server(plan, link, index, shards[index].value, epoch, learning_rate)

        jobs = context.parallelize(range(len(shards)), len(shards))
        tag = f"automl-async-{uuid.uuid4().hex}"

        def run(index: int) -> tuple[int, float, float]:
            context.addJobTag(tag)
            context.setInterruptOnCancel(True)
            try:
                return context.runJob(jobs, task, [index])[0]
            finally:
                context.removeJobTag(tag)

        with ThreadPoolExecutor(len(shards), thread_name_prefix="automl-async-epoch") as pool:
            futures = [pool.submit(run, index) for index in range(len(shards))]
            _, late = wait(futures, timeout=self.epoch_timeout)
            if late:
                context.cancelJobsWithTag(tag)
                wait(futures)
                raise TrialFailed(
                    f"epoch {epoch + 1} took longer than epoch_timeout ({self.epoch_timeout:g} s)"
                )
        done = [f.result() for f in futures if f.exception() is None]
        failed = [exc for f in futures if (exc := f.exception()) is not None]
        if not done:
            raise TrialFailed(f"every Spark task failed: {_reason(failed[0])}") from failed[0]
        for exc in failed:
            warnings.warn(
                f"spark-async: a partition failed in epoch {epoch + 1} and was left out of it "
                f"({_reason(exc)})",
                RuntimeWarning,
                stacklevel=2,
            )
        rows, loss, accuracy = np.sum(done, axis=0)
        return int(rows), float(loss), float(accuracy)


@contextlib.contextmanager
def _listening(server: ParameterServer) -> Iterator[ParameterServer]:
    """Run ``server`` for the block; an address it cannot bind is the user's option to fix."""
    try:
        server.start()
    except OSError as exc:
        host, port = server.bind_address
        raise UserError(
            f"backend.options.server_host: the parameter server cannot listen on "
            f"{host}:{port} ({exc.strerror or exc})"
        ) from None
    try:
        yield server
    finally:
        server.close()


def _reason(exc: BaseException) -> str:
    """The telling line of a Spark job's error: the last one before the JVM's stack frames (the
    Python exception of a task, or why Spark aborted), without Java's exception class."""
    lines = []
    for line in str(exc).splitlines():
        if line.strip().startswith("at "):
            break
        if line.strip():
            lines.append(line.strip())
    last = lines[-1] if lines else type(exc).__name__
    return last.rsplit("Exception: ", 1)[-1][:300]
