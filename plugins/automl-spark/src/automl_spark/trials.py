"""The ``spark-trials`` backend: whole trials side by side, each fold a Spark task.

Where spark-sync and spark-async split one trial across executors, this backend runs
``search.parallel`` trials at once: the search's driver asks Optuna, sends each trial's next fold
as a one-task Spark job, and tells the result as it comes back. On the executor the fold trains
with the local Keras backend (TensorFlow imported once per Python worker, its threads sized to
the task's cores). The search's rows and folds are broadcast once. With ``search.parallel: 1``,
and for the final model, training happens in the search's process, as with the local backend.
"""

from __future__ import annotations

import itertools
import queue
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from automl.keras import LocalBackend
from automl.tuning import FoldOutcome, FoldTask, SearchJob, TrialPool, run_fold
from automl_spark.session import SessionOptions, SparkSessionHolder, threads_per_task

_group_numbers = itertools.count()


class SparkTrialsBackend(LocalBackend):
    """Run ``search.parallel`` trials at once as Spark tasks (its pool comes through the
    ``make_trial_pool`` hook of :mod:`automl_spark.plugin`).

    Args:
        master: the Spark master URL (``local[N]``, ``spark://host:port``, ``yarn``, ...); by
            default the SparkSession running in this process, else ``local[*]``.
        conf: Spark settings passed through (executor memory and cores, ...).
        threads_per_worker: TensorFlow threads per Python worker (default: the cores a task has).
        start_timeout: seconds to wait for the master and its executors before giving up.
    """

    process_safe: ClassVar[bool] = False  # its trials run on Spark, not in local processes

    def __init__(
        self,
        master: str | None = None,
        conf: dict[str, str] | None = None,
        threads_per_worker: int | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        super().__init__()
        self.threads_per_worker = threads_per_worker
        self.spark = SparkSessionHolder(SessionOptions(master, conf or {}, start_timeout))

    def close(self) -> None:
        """Stop Spark if this backend started it."""
        self.spark.close()


def spark_trial_pool(backend: SparkTrialsBackend, workers: int, job: SearchJob) -> TrialPool:
    """``workers`` trials at once on the backend's Spark, each fold a Spark task (the plugin's
    ``make_trial_pool`` hook)."""
    session = backend.spark.get()
    threads = backend.threads_per_worker or threads_per_task(session)
    return SparkTrialPool(session, workers, job, threads)


class SparkTrialPool(TrialPool):
    """Folds as one-task Spark jobs, submitted from ``size`` driver threads.

    A task whose executor or Python worker is lost comes back as a lost outcome, so the search
    queues its trial again; training errors come back as the fold's reason, as locally. Every
    job of the pool is in the Spark job group :attr:`group`.
    """

    def __init__(self, session: Any, size: int, job: SearchJob, threads: int) -> None:
        self.size = size
        self._context = session.sparkContext
        self._job: Any = self._context.broadcast(job)
        self._threads = threads
        self.group = f"automl-trials-{next(_group_numbers)}"
        self._outcomes: queue.Queue[FoldOutcome] = queue.Queue()
        self._submitter = ThreadPoolExecutor(max_workers=size, thread_name_prefix="automl-trials")

    def submit(self, task: FoldTask) -> None:
        """Start the fold's Spark job from a driver thread."""
        self._submitter.submit(self._run, task)

    def wait(self, timeout: float) -> list[FoldOutcome]:
        """The outcomes that arrived within ``timeout`` seconds."""
        try:
            outcomes = [self._outcomes.get(timeout=timeout)]
        except queue.Empty:
            return []
        while not self._outcomes.empty():
            outcomes.append(self._outcomes.get_nowait())
        return outcomes

    def close(self) -> None:
        """Cancel the folds still running and release the broadcast rows (once)."""
        if self._job is None:
            return
        self._context.cancelJobGroup(self.group)
        self._submitter.shutdown(wait=True, cancel_futures=True)
        self._job.destroy()
        self._job = None

    def _run(self, task: FoldTask) -> None:
        job, threads = self._job, self._threads
        self._context.setJobGroup(self.group, f"trial {task.trial} fold {task.step + 1}")
        try:
            rdd = self._context.parallelize([task], 1)
            (outcome,) = rdd.map(lambda t: _train(job.value, t, threads)).collect()
        except Exception as exc:  # the task itself failed: a lost executor or Python worker
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            outcome = FoldOutcome(
                task.trial, task.step, None, f"the Spark task failed: {first[:200]}", lost=True
            )
        self._outcomes.put(outcome)


def _train(job: SearchJob, task: FoldTask, threads: int) -> FoldOutcome:
    """On an executor: train the fold with the local backend."""
    from automl_spark._worker import keras_with_threads

    keras_with_threads(threads)
    return run_fold(job, LocalBackend(), task)
