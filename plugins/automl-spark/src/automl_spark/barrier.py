"""One epoch as one barrier job: the tasks train their own rows and average their states.

An epoch of ``spark-sync`` is a single Spark job (``DataFrame.mapInArrow(..., barrier=True)``)
over the fold's cached, fold-tagged partitions. The driver's state (weights and optimizer slots)
and step counter travel in the task closure. Each task trains the round's batches of its own
training rows, then the tasks average their new states, weighted by the rows each trained,
through task 0 (:mod:`automl_spark.paramserver._averager`: task 0 listens on its executor at a
port the driver chose, so no Spark barrier call is needed), and all start the next round from
the same state without going back to the driver. After the last round each task scores its
validation rows; the driver receives one row per task: the metric sums, and from task 0 the
averaged state. Nothing else leaves the executors.
"""

from __future__ import annotations

import math
import random
import socket
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automl.errors import TrialFailed, UserError
from automl.spec import ModelSpec
from automl_spark.frames import PartitionRows, read_partition, training_rows
from automl_spark.paramserver import AveragingHub, AveragingPeer

EPOCH_SCHEMA = (
    "partition int, rows long, loss double, accuracy double, val_rows long, val_loss double, "
    "val_correct double, step long, state binary"
)
_EPSILON = 1e-7  # Keras' clipping of probabilities in its cross-entropy


@dataclass(frozen=True)
class EpochPlan:
    """What every task needs to train its part of an epoch (plain data, in the closure).

    ``valid_fold`` names the rows each task scores after the epoch (``None``: none);
    ``weighted`` says whether the rows' loss weights are used (off, Keras sees no weights);
    ``rounds`` is how many averagings an epoch has (every task takes part in each).
    """

    spec: ModelSpec
    n_features: int
    n_classes: int
    seed: int
    shuffle: bool
    batches_per_round: int | None
    eager: bool
    threads: int
    weighted: bool
    valid_fold: int | None
    rounds: int = 1


@dataclass(frozen=True)
class Rendezvous:
    """Where the other tasks of an epoch reach task 0: its executor's host (or ``host``), at
    the ``port`` the driver chose, proving ``secret``; ``timeout`` bounds every exchange."""

    secret: bytes = field(repr=False)
    port: int
    timeout: float
    host: str | None = None

    def address(self, context: Any) -> tuple[str, int]:
        """Task 0's address, as every task of the barrier job sees it."""
        if self.host is not None:
            return self.host, self.port
        executor = context.getTaskInfos()[0].address
        return executor.rpartition(":")[0].strip("[]"), self.port


def choose_port(session: Any, port: int) -> int:
    """``port``, or when 0 one for task 0 to listen on: a free one on this machine for a local
    master (its tasks run here), else one at random in the dynamic range."""
    if port:
        return port
    if session.conf.get("spark.master", "").startswith("local"):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])
    return random.randint(49152, 65535)


def check_bindable(host: str) -> None:
    """Whether this machine can listen on ``host`` (for a local master, whose tasks run here).

    Raises:
        UserError: it cannot, naming the option and the reason.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, 0))
        except OSError as exc:
            raise UserError(
                f"backend.options.server_host: the tasks cannot listen on {host} "
                f"({exc.strerror or exc})"
            ) from None


def partition_rows(frame: Any, valid_fold: int | None) -> list[int]:
    """The training rows of each partition of ``frame`` (one small job)."""
    from pyspark.sql import functions as F

    by_partition = frame.where(training_rows(valid_fold)).groupBy(F.spark_partition_id())
    counts = by_partition.count().collect()
    return [int(row["count"]) for row in counts]


@dataclass(frozen=True)
class EpochOutcome:
    """What the driver learns from an epoch: the averaged state and step, and metric sums."""

    state: np.ndarray
    step: int
    rows: int
    loss_sum: float
    accuracy_sum: float
    val_rows: int
    val_loss_sum: float
    val_correct: float

    def logs(self) -> dict[str, float]:
        """Keras' epoch logs: training loss and accuracy, and the validation ones if scored."""
        logs = {"accuracy": self.accuracy_sum / self.rows, "loss": self.loss_sum / self.rows}
        if self.val_rows:
            logs["val_accuracy"] = self.val_correct / self.val_rows
            logs["val_loss"] = self.val_loss_sum / self.val_rows
        return logs


def validation_logs(results: list[Any]) -> dict[str, float]:
    """``val_loss`` and ``val_accuracy`` from tasks' rows of :data:`EPOCH_SCHEMA` (none when
    they scored no rows)."""
    rows = sum(int(r["val_rows"]) for r in results)
    if not rows:
        return {}
    return {
        "val_accuracy": sum(float(r["val_correct"]) for r in results) / rows,
        "val_loss": sum(float(r["val_loss"]) for r in results) / rows,
    }


def run_barrier_epoch(
    frame: Any,
    make_task: Callable[[], Callable[[Iterator[Any]], Iterator[Any]]],
    schema: str,
    epoch: int,
    retries: int,
    backend: str,
    timeout: float | None = None,
) -> list[Any]:
    """Run a task from ``make_task`` over every partition of ``frame`` at once; the rows the
    tasks return.

    Spark does not retry a barrier stage, so a failed epoch (a lost task or worker, a port task
    0 could not listen on) is run again from its start with a new task, up to ``retries``
    times, each time with a warning.

    Raises:
        TrialFailed: the epoch failed ``retries + 1`` times, or outlasted ``timeout`` seconds
            (its job is interrupted).
    """
    for attempt in range(retries + 1):
        try:
            job = frame.mapInArrow(make_task(), schema, barrier=True)
            return _collect_within(job, timeout, epoch)
        except (TrialFailed, UserError):
            raise
        except Exception as exc:  # a task failed: Spark aborted the barrier stage
            reason = spark_reason(exc)
            if attempt == retries:
                raise TrialFailed(
                    f"epoch {epoch + 1} failed {retries + 1} times on Spark: {reason}"
                ) from None
            warnings.warn(
                f"{backend}: a task failed in epoch {epoch + 1}; running the epoch again from "
                f"its start ({reason})",
                RuntimeWarning,
                stacklevel=2,
            )
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _collect_within(job: Any, timeout: float | None, epoch: int) -> list[Any]:
    """``job.collect()``, interrupted (by its job tag) after ``timeout`` seconds."""
    if timeout is None:
        return job.collect()
    session, tag = job.sparkSession, f"automl-epoch-{uuid.uuid4().hex}"
    outcome: dict[str, Any] = {}

    def collect() -> None:
        session.addTag(tag)
        try:
            outcome["rows"] = job.collect()
        except BaseException as exc:  # handed to the driver's thread below
            outcome["error"] = exc
        finally:
            session.removeTag(tag)

    thread = threading.Thread(target=collect, name="automl-spark-epoch", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        session.interruptTag(tag)
        thread.join()
        raise TrialFailed(f"epoch {epoch + 1} took longer than epoch_timeout ({timeout:g} s)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["rows"]


def sync_epoch(
    plan: EpochPlan, meeting: Rendezvous, state: np.ndarray, step: int, epoch: int
) -> Callable[..., Any]:
    """The task of one synchronous epoch, starting from ``state`` at optimizer step ``step``."""

    def task(batches: Iterator[Any]) -> Iterator[Any]:
        from pyspark import BarrierTaskContext

        context = BarrierTaskContext.get()
        rows = read_partition(batches, plan.n_features)
        yield train_partition(plan, meeting, rows, state, step, epoch, context)

    return task


def collect_epoch(results: list[Any]) -> EpochOutcome:
    """The driver's view of an epoch from its tasks' rows."""
    first = min(results, key=lambda r: r["partition"])
    return EpochOutcome(
        state=np.frombuffer(first["state"], dtype=np.float32).copy(),
        step=int(first["step"]),
        rows=sum(int(r["rows"]) for r in results),
        loss_sum=sum(float(r["loss"]) for r in results),
        accuracy_sum=sum(float(r["accuracy"]) for r in results),
        val_rows=sum(int(r["val_rows"]) for r in results),
        val_loss_sum=sum(float(r["val_loss"]) for r in results),
        val_correct=sum(float(r["val_correct"]) for r in results),
    )


def train_partition(
    plan: EpochPlan,
    meeting: Rendezvous,
    rows: PartitionRows,
    state: np.ndarray,
    step: int,
    epoch: int,
    context: Any,
) -> Any:
    """In a barrier task: train this partition's rounds, averaging with the others after each,
    and score its validation rows; one Arrow record batch for the driver."""
    from automl_spark import _worker
    from automl_spark.state import get_state, set_state

    index = context.partitionId()
    train, valid = rows.split(plan.valid_fold)
    keras = _worker.keras_with_threads(plan.threads)
    model = _worker.model_for(plan.spec, plan.n_features, plan.n_classes, plan.eager, plan.threads)
    order = epoch_order(plan, len(train.y), derived_seed(plan.seed, epoch, index))
    exchange = _join_exchange(meeting, context, state.size)
    trained = loss = accuracy = 0.0
    try:
        for round_ in range(plan.rounds):
            picked = round_slice(plan, order, round_)
            steps = 0
            if len(picked):
                set_state(model, state)
                model.optimizer.iterations.assign(step)
                keras.utils.set_random_seed(derived_seed(plan.seed, epoch, index, round_))
                logs = fit_rows(model, plan, train, picked)
                state, steps = get_state(model), math.ceil(len(picked) / plan.spec.batch_size)
                trained += len(picked)
                loss += logs["loss"] * len(picked)
                accuracy += logs["accuracy"] * len(picked)
            if exchange is not None:
                state, steps = exchange.average(state, len(picked), steps)
            step += steps
    finally:
        if exchange is not None:
            exchange.close()
    set_state(model, state)
    val_loss, val_correct = score_rows(model, valid)
    return epoch_row(
        index,
        int(trained),
        loss,
        accuracy,
        len(valid.y),
        val_loss,
        val_correct,
        step,
        state if index == 0 else None,
    )


def epoch_row(
    partition: int,
    rows: int = 0,
    loss: float = 0.0,
    accuracy: float = 0.0,
    val_rows: int = 0,
    val_loss: float = 0.0,
    val_correct: float = 0.0,
    step: int = 0,
    state: np.ndarray | None = None,
) -> Any:
    """A task's one row of :data:`EPOCH_SCHEMA`, as an Arrow record batch."""
    import pyarrow as pa

    row = {
        "partition": pa.array([partition], pa.int32()),
        "rows": pa.array([rows], pa.int64()),
        "loss": pa.array([loss], pa.float64()),
        "accuracy": pa.array([accuracy], pa.float64()),
        "val_rows": pa.array([val_rows], pa.int64()),
        "val_loss": pa.array([val_loss], pa.float64()),
        "val_correct": pa.array([val_correct], pa.float64()),
        "step": pa.array([step], pa.int64()),
        "state": pa.array([b"" if state is None else state.tobytes()], pa.binary()),
    }
    return pa.RecordBatch.from_pydict(row)


def fit_rows(model: Any, plan: EpochPlan, rows: PartitionRows, picked: np.ndarray) -> dict:
    """One Keras pass over ``rows[picked]`` in order; its loss and accuracy."""
    from automl.keras import releasing_traced_graphs

    with releasing_traced_graphs():
        history = model.fit(
            rows.x[picked],
            rows.y[picked],
            sample_weight=rows.weights[picked] if plan.weighted else None,
            batch_size=plan.spec.batch_size,
            epochs=1,
            shuffle=False,
            verbose=0,
        ).history
    return {key: float(values[0]) for key, values in history.items()}


def score_rows(model: Any, rows: PartitionRows) -> tuple[float, float]:
    """Summed cross-entropy (clipped as Keras clips it) and correct predictions of ``model`` on
    ``rows``."""
    if not len(rows.y):
        return 0.0, 0.0
    from automl.keras import predict_proba

    proba = predict_proba(model, rows.x)
    picked = np.clip(proba[np.arange(len(rows.y)), rows.y], _EPSILON, 1 - _EPSILON)
    return float(-np.sum(np.log(picked))), float(np.sum(proba.argmax(axis=1) == rows.y))


def _join_exchange(
    meeting: Rendezvous, context: Any, size: int
) -> AveragingHub | AveragingPeer | None:
    """Task 0's hub, another task's connection to it, or ``None`` when the job has one task."""
    tasks = len(context.getTaskInfos())
    if tasks == 1:
        return None
    host, port = meeting.address(context)
    if context.partitionId() == 0:
        return AveragingHub(host, port, meeting.secret, size, tasks - 1, meeting.timeout)
    return AveragingPeer((host, port), meeting.secret, size, meeting.timeout)


def rounds_per_epoch(largest: int, batch_size: int, batches_per_round: int | None) -> int:
    """Rounds that make one pass over the largest partition's training rows (at least one)."""
    if batches_per_round is None:
        return 1
    return max(1, math.ceil(math.ceil(largest / batch_size) / batches_per_round))


def epoch_order(plan: EpochPlan, n: int, seed: int) -> np.ndarray:
    """The order in which a partition trains its ``n`` rows this epoch."""
    return np.random.default_rng(seed).permutation(n) if plan.shuffle else np.arange(n)


def round_slice(plan: EpochPlan, order: np.ndarray, round_: int) -> np.ndarray:
    """This round's rows of the epoch's order: all of them, or its ``batches_per_round``."""
    if plan.batches_per_round is None:
        return order
    size = plan.batches_per_round * plan.spec.batch_size
    return order[round_ * size : (round_ + 1) * size]


def derived_seed(*numbers: int) -> int:
    """A 32-bit seed derived from ``numbers`` (a partition's order per epoch, a round's dropout)."""
    return int(np.random.SeedSequence(list(numbers)).generate_state(1)[0])


def spark_reason(exc: BaseException) -> str:
    """The telling line of a Spark job's error: the last one before the JVM's stack frames (the
    Python exception of a task, or why Spark aborted), without Java's exception class or the
    trailing SQLSTATE."""
    lines = []
    for line in str(exc).splitlines():
        if line.strip().startswith("at "):
            break
        if line.strip() and not line.strip().startswith("SQLSTATE"):
            lines.append(line.strip())
    last = lines[-1] if lines else type(exc).__name__
    return last.rsplit("Exception: ", 1)[-1][:300]
