"""The ``spark-sync`` backend: synchronous data-parallel training of each fold on Spark.

Every round (an epoch, or ``batches_per_round`` batches) the driver broadcasts the current
weights and optimizer state, each partition trains its shard from them, and the driver averages
the partitions' new states weighted by the rows they trained. After each epoch the driver scores
the validation rows and runs the local backend's own callbacks (Keras early stopping with
restored best weights, the NaN stop, the epoch report), so the fold result reads the same as
the local backend's.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from automl.keras import fold_callbacks, fold_result, new_model, runs_eagerly, stop_on_nan
from automl.spec import ModelSpec
from automl.training import Backend, EpochCallback, FoldData, FoldResult, TrainSettings
from automl_spark.epochs import run_epochs
from automl_spark.rounds import RoundPlan, ShardedFold, average
from automl_spark.session import SessionOptions, SparkSessionHolder, threads_per_task
from automl_spark.state import get_state, set_state


class SparkSyncBackend(Backend):
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
    """

    def __init__(
        self,
        master: str | None = None,
        conf: dict[str, str] | None = None,
        partitions: int | None = None,
        batches_per_round: int | None = None,
        shuffle: bool = True,
        threads_per_worker: int | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        if partitions is not None and partitions < 1:
            raise ValueError("partitions must be at least 1")
        if batches_per_round is not None and batches_per_round < 1:
            raise ValueError("batches_per_round must be at least 1")
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

    def _shard(
        self,
        model: Any,
        spec: ModelSpec,
        x: np.ndarray,
        y: np.ndarray,
        weights: np.ndarray | None,
        settings: TrainSettings,
        epochs: int,
    ) -> tuple[ShardedFold, RoundPlan]:
        """Broadcast the rows' shards once for this fold, and the plan every worker trains by."""
        session = self.spark.get()
        context = session.sparkContext
        partitions = self.partitions or context.defaultParallelism
        fold = ShardedFold(context, x, y, weights, partitions, settings.seed, self.shuffle)
        plan = RoundPlan(
            spec=spec,
            n_features=x.shape[1],
            n_classes=model.output_shape[-1],
            seed=settings.seed,
            shuffle=self.shuffle,
            batches_per_round=self.batches_per_round,
            eager=runs_eagerly(max(fold.sizes), spec.batch_size, epochs),
            threads=self.threads_per_worker or threads_per_task(session),
        )
        return fold, plan

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
        """Run up to ``epochs`` epochs of rounds on ``model``'s state (rows weighted by
        ``weights``); return the history."""
        fold, plan = self._shard(model, spec, x, y, weights, settings, epochs)
        rounds = fold.rounds_per_epoch(spec.batch_size, self.batches_per_round)
        state, step = get_state(model), 0

        def train_epoch(epoch: int) -> tuple[int, float, float]:
            nonlocal state, step
            totals = np.zeros(3)
            for round_ in range(rounds):
                state, rows, loss, accuracy, steps = average(
                    fold.run_round(plan, state, step, epoch, round_)
                )
                totals += (rows, loss, accuracy)
                step += steps
            set_state(model, state)
            return int(totals[0]), float(totals[1]), float(totals[2])

        try:
            return run_epochs(model, epochs, train_epoch, callbacks, validation)
        finally:
            fold.close()
