"""The ``spark-sync`` backend: synchronous data-parallel training of each fold on Spark.

A fold's rows become a cached, fold-tagged DataFrame (:mod:`automl_spark.frames`), and each
epoch is one barrier job over its partitions (:mod:`automl_spark.barrier`): every round (an
epoch, or ``batches_per_round`` batches) the tasks train their own rows from the same state and
average their new states among themselves, weighted by the rows each trained; then they score
their validation rows. The driver keeps the epoch loop and runs the local backend's own
callbacks (Keras early stopping with restored best weights, the NaN stop, the learning-rate
schedule, the epoch report), so the fold result reads the same as the local backend's.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from automl.errors import TrialFailed, UserError
from automl.keras import fold_callbacks, fold_result, new_model, runs_eagerly, stop_on_nan
from automl.metrics import ScoreCounts
from automl.spec import ModelSpec
from automl.training import (
    Backend,
    EpochCallback,
    FoldData,
    FoldResult,
    TableBackend,
    TableSource,
    TrainSettings,
)
from automl_spark.barrier import (
    EPOCH_SCHEMA,
    EpochPlan,
    Rendezvous,
    check_bindable,
    choose_port,
    collect_epoch,
    partition_rows,
    rounds_per_epoch,
    run_barrier_epoch,
    sync_epoch,
)
from automl_spark.epochs import run_epochs
from automl_spark.frames import (
    FEATURES,
    TRAIN_FOLD,
    VALID_FOLD,
    frame_from_arrays,
    training_rows,
)
from automl_spark.paramserver import new_secret
from automl_spark.scoring import score_frame
from automl_spark.session import SessionOptions, SparkSessionHolder, task_slots, threads_per_task
from automl_spark.state import get_state, set_state
from automl_spark.tables import SparkTable


class SparkSyncBackend(Backend, TableBackend):
    """Train each fold data-parallel on Spark, averaging the partitions' weights every round.

    Args:
        master: the Spark master URL (``local[*]``, ``local[N]``, ``spark://host:port``, ``yarn``,
            ``k8s://...``); by default the SparkSession running in this process, else
            ``local[*]``.
        conf: Spark settings passed through (executor memory and cores, ...).
        partitions: shards per fold, each trained by one task (default: Spark's default
            parallelism, i.e. the cores Spark has).
        batches_per_round: batches each partition trains between two averagings (default: one
            pass over its shard, so a round is an epoch).
        shuffle: shuffle each shard every epoch, and the rows among shards.
        threads_per_worker: TensorFlow threads per Python worker (default: the cores a task has:
            ``local[N]`` divides this machine's cores by N; clusters use ``spark.task.cpus``).
        start_timeout: seconds to wait for the master and its executors before giving up.
        epoch_retries: how many times an epoch whose task failed runs again from its start.
        server_host: the address task 0 listens on for the other tasks' states (default:
            127.0.0.1 for a local master, else task 0's executor host as Spark knows it).
        server_port: the port it listens on; 0 lets the driver choose one per epoch (a free one
            on this machine for a local master, else one of the dynamic range 49152-65535).
        socket_timeout: seconds any exchange among the tasks may take, including a task's
            training between two averagings.
    """

    name = "spark-sync"

    def __init__(
        self,
        master: str | None = None,
        conf: dict[str, str] | None = None,
        partitions: int | None = None,
        batches_per_round: int | None = None,
        shuffle: bool = True,
        threads_per_worker: int | None = None,
        start_timeout: float = 60.0,
        epoch_retries: int = 2,
        server_host: str | None = None,
        server_port: int = 0,
        socket_timeout: float = 120.0,
    ) -> None:
        if partitions is not None and partitions < 1:
            raise ValueError("partitions must be at least 1")
        if batches_per_round is not None and batches_per_round < 1:
            raise ValueError("batches_per_round must be at least 1")
        for name, value, low in [
            ("epoch_retries", epoch_retries, 0),
            ("server_port", server_port, 0),
            ("socket_timeout", socket_timeout, 1e-3),
        ]:
            if value < low:
                raise UserError(f"backend.options.{name}: must be at least {low:g}, got {value!r}")
        self.epoch_retries = epoch_retries
        self.server_host = server_host
        self.server_port = server_port
        self.socket_timeout = socket_timeout
        self.partitions = partitions
        self.batches_per_round = batches_per_round
        self.shuffle = shuffle
        self.threads_per_worker = threads_per_worker
        self.spark = SparkSessionHolder(SessionOptions(master, conf or {}, start_timeout))

    def evaluate(
        self,
        spec: ModelSpec,
        data: FoldData,
        settings: TrainSettings,
        on_epoch: EpochCallback | None = None,
    ) -> FoldResult:
        """Train in synchronous rounds with early stopping; score the kept weights on validation."""
        started = time.perf_counter()
        model = new_model(
            spec, data.x_train.shape, data.n_classes, settings.seed, settings.max_epochs
        )
        stopper, callbacks = fold_callbacks(model, spec, settings, on_epoch)
        history = self._train(
            model,
            spec,
            data.x_train,
            data.y_train,
            data.w_train,
            settings,
            settings.max_epochs,
            callbacks,
            validation=(data.x_valid, data.y_valid),
        )
        return fold_result(model, stopper, history, data, settings, started)

    def fit(
        self,
        spec: ModelSpec,
        x: np.ndarray,
        y: np.ndarray,
        n_classes: int,
        settings: TrainSettings,
        epochs: int,
        sample_weight: np.ndarray | None = None,
    ) -> Any:
        """Train on all rows (weighted by ``sample_weight``) for ``epochs`` epochs in synchronous
        rounds; return the Keras model."""
        model = new_model(spec, x.shape, n_classes, settings.seed, epochs)
        self._train(model, spec, x, y, sample_weight, settings, epochs, [stop_on_nan(model)])
        return model

    def close(self) -> None:
        """Stop the SparkSession if this backend started it."""
        self.spark.close()

    def _partitions(self, session: Any) -> int:
        """The partitions a fold trains on: one task each, all running at once.

        Raises:
            UserError: more partitions were asked for than Spark has task slots (a barrier job
                would wait for them for minutes, then fail).
        """
        slots = task_slots(session)
        if self.partitions is None:
            return slots
        if self.partitions > slots:
            raise UserError(
                f"backend.options.partitions: {self.partitions} partitions train at once, one "
                f"task each, but Spark has {slots} task slots; ask for at most {slots}"
            )
        return self.partitions

    def _plan(
        self,
        model: Any,
        spec: ModelSpec,
        rows: int,
        partitions: int,
        settings: TrainSettings,
        epochs: int,
        weighted: bool,
        valid_fold: int | None,
    ) -> EpochPlan:
        """What every task trains by, for a fold of ``rows`` training rows in ``partitions``."""
        return EpochPlan(
            spec=spec,
            n_features=model.input_shape[-1],
            n_classes=model.output_shape[-1],
            seed=settings.seed,
            shuffle=self.shuffle,
            batches_per_round=self.batches_per_round,
            eager=runs_eagerly(-(-rows // partitions), spec.batch_size, epochs),
            threads=self.threads_per_worker or threads_per_task(self.spark.get()),
            weighted=weighted,
            valid_fold=valid_fold,
        )

    def _train(
        self,
        model: Any,
        spec: ModelSpec,
        x: np.ndarray,
        y: np.ndarray,
        weights: np.ndarray | None,
        settings: TrainSettings,
        epochs: int,
        callbacks: list[Any],
        validation: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> dict[str, list[float]]:
        """Run up to ``epochs`` epochs on ``model``'s state (rows weighted by ``weights``), the
        validation rows scored by the tasks; return the history."""
        session = self.spark.get()
        partitions = self._partitions(session)
        folds = np.full(len(x), TRAIN_FOLD)
        if validation is not None:
            x = np.concatenate([x, validation[0]])
            y = np.concatenate([y, validation[1]])
            folds = np.concatenate([folds, np.full(len(validation[1]), VALID_FOLD)])
            if weights is not None:
                weights = np.concatenate([weights, np.ones(len(validation[1]))])
        frame = frame_from_arrays(
            session, x, y, weights, folds, partitions, settings.seed, self.shuffle
        )
        valid_fold = None if validation is None else VALID_FOLD
        rows = int(np.sum(folds == TRAIN_FOLD))
        weighted = weights is not None
        plan = self._plan(model, spec, rows, partitions, settings, epochs, weighted, valid_fold)
        try:
            return self._train_frame(model, plan, frame, epochs, callbacks)
        finally:
            frame.unpersist()

    def fit_frame(
        self,
        spec: ModelSpec,
        frame: Any,
        n_classes: int,
        settings: TrainSettings,
        epochs: int,
        weighted: bool = False,
    ) -> Any:
        """Train on a DataFrame's rows where they are, for ``epochs`` epochs; the Keras model.

        ``frame`` has the columns of :mod:`automl_spark.frames` (``features`` as
        ``array<float>``, ``label`` as class codes, ``weight``, ``fold``; rows of a fold below
        zero are left out). Only counts, the model's state and metric sums reach the driver.
        """
        cached, rows, width, partitions = self._cached(frame, None)
        try:
            model = new_model(spec, (rows, width), n_classes, settings.seed, epochs)
            plan = self._plan(model, spec, rows, partitions, settings, epochs, weighted, None)
            self._train_frame(model, plan, cached, epochs, [stop_on_nan(model)])
        finally:
            cached.unpersist()
        return model

    def evaluate_frame(
        self,
        spec: ModelSpec,
        frame: Any,
        n_classes: int,
        settings: TrainSettings,
        valid_fold: int,
        weighted: bool,
        on_epoch: EpochCallback | None,
    ) -> tuple[FoldResult, ScoreCounts]:
        """Train on a DataFrame's rows where they are (every fold but ``valid_fold``, none below
        zero), with early stopping on ``valid_fold``; the result and the kept weights' counts on
        ``valid_fold``, scored by the tasks. The result's ``valid_proba`` has no rows.

        Raises:
            TrialFailed: the loss became NaN, or the model predicts NaN.
        """
        started = time.perf_counter()
        epochs = settings.max_epochs
        cached, rows, width, partitions = self._cached(frame, valid_fold)
        try:
            model = new_model(spec, (rows, width), n_classes, settings.seed, epochs)
            stopper, callbacks = fold_callbacks(model, spec, settings, on_epoch)
            plan = self._plan(model, spec, rows, partitions, settings, epochs, weighted, valid_fold)
            history = self._train_frame(model, plan, cached, epochs, callbacks)
            counts = score_frame(cached, plan, model.get_weights(), valid_fold)
        finally:
            cached.unpersist()
        if not np.isfinite(counts.loss_sum):
            raise TrialFailed("the model predicts NaN probabilities")
        epochs_run = len(history["loss"])
        result = FoldResult(
            history=history,
            best_epoch=stopper.best_epoch + 1 if settings.restore_best_weights else epochs_run,
            epochs_run=epochs_run,
            seconds=time.perf_counter() - started,
            valid_proba=np.zeros((0, n_classes)),
            n_params=model.count_params(),
            model=model,
        )
        return result, counts

    def score_frame(self, spec: ModelSpec, model: Any, frame: Any, fold: int) -> ScoreCounts:
        """The counts of ``model`` (of ``spec``) on a DataFrame's rows of ``fold``, scored by the
        tasks."""
        partitions = self._partitions(self.spark.get())
        plan = self._plan(model, spec, 0, partitions, TrainSettings(max_epochs=1), 1, False, None)
        # A stage of its own, so that the tasks' Python workers that loaded TensorFlow score.
        return score_frame(frame.repartition(partitions), plan, model.get_weights(), fold)

    def open_table(self, source: TableSource) -> SparkTable:
        """Read and split ``source`` on the executors (``data.distributed``)."""
        return SparkTable(self.spark.get(), self, source)

    def _cached(self, frame: Any, valid_fold: int | None) -> tuple[Any, int, int, int]:
        """``frame`` in one partition per task, cached; its training rows (every fold not below
        zero but ``valid_fold``), the width of its features and the partitions."""
        from pyspark.sql import functions as F

        partitions = self._partitions(self.spark.get())
        cached = frame.repartition(partitions).persist()
        sizes = cached.agg(
            F.sum(F.when(training_rows(valid_fold), 1).otherwise(0)).alias("rows"),
            F.max(F.size(FEATURES)).alias("width"),
        ).first()
        return cached, int(sizes["rows"] or 0), int(sizes["width"] or 0), partitions

    def _train_frame(
        self, model: Any, plan: EpochPlan, frame: Any, epochs: int, callbacks: list[Any]
    ) -> dict[str, list[float]]:
        """Train ``model`` on the cached ``frame``; the history."""
        if self.batches_per_round is not None:
            largest = max(partition_rows(frame, plan.valid_fold), default=0)
            rounds = rounds_per_epoch(largest, plan.spec.batch_size, self.batches_per_round)
            plan = dataclasses.replace(plan, rounds=rounds)
        return self._epochs(model, plan, frame, epochs, callbacks)

    def _epochs(
        self, model: Any, plan: EpochPlan, frame: Any, epochs: int, callbacks: list[Any]
    ) -> dict[str, list[float]]:
        """The driver's epoch loop over ``frame``: one barrier job per epoch."""
        secret = new_secret()

        def train_epoch(epoch: int) -> dict[str, float]:
            step, state = int(model.optimizer.iterations.numpy()), get_state(model)

            def make_task() -> Any:
                return sync_epoch(plan, self._rendezvous(secret), state, step, epoch)

            results = run_barrier_epoch(
                frame, make_task, EPOCH_SCHEMA, epoch, self.epoch_retries, self.name
            )
            outcome = collect_epoch(results)
            set_state(model, outcome.state)
            model.optimizer.iterations.assign(outcome.step)
            return outcome.logs()

        return run_epochs(model, epochs, train_epoch, callbacks)

    def _rendezvous(self, secret: bytes) -> Rendezvous:
        """Where this epoch's tasks meet task 0 (a new port unless one is set).

        Raises:
            UserError: with a local master, ``server_host`` is not an address of this machine.
        """
        session = self.spark.get()
        host = self._server_host(session)
        if SessionOptions(session.conf.get("spark.master")).is_local and host is not None:
            check_bindable(host)
        port = choose_port(session, self.server_port)
        return Rendezvous(secret, port, self.socket_timeout, host)

    def _server_host(self, session: Any) -> str | None:
        """The address task 0 listens on: the option, loopback for a local master, else
        ``None`` (task 0's executor, as Spark knows it)."""
        if self.server_host is not None:
            return self.server_host
        local = SessionOptions(session.conf.get("spark.master")).is_local
        return "127.0.0.1" if local else None
