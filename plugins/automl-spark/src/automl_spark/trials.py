"""The ``spark-trials`` backend: whole trials side by side, each fold a Spark task.

Where spark-sync and spark-async split one trial across executors, this backend runs
``search.parallel`` trials at once: the search's driver asks Optuna, sends each trial's next fold
as a one-task Spark job, and tells the result as it comes back. On the executor the fold trains
with the local Keras backend (TensorFlow imported once per Python worker, its threads sized to
the task's cores). The search's rows and folds travel in the task's closure (Spark Connect
has no broadcasts), and the fold's record comes back as JSON, never as a pickle. With
``search.parallel: 1``, and for the final model, training happens in the search's process, as
with the local backend.
"""

from __future__ import annotations

import base64
import itertools
import json
import queue
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np

from automl.keras import LocalBackend
from automl.training import FoldResult
from automl.tuning import FoldOutcome, FoldRecord, FoldTask, SearchJob, TrialPool, run_fold
from automl_spark.barrier import spark_reason
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
    job of the pool carries the Spark job tag :attr:`tag`, which :meth:`close` interrupts.
    """

    def __init__(self, session: Any, size: int, job: SearchJob, threads: int) -> None:
        self.size = size
        self._session = session
        self._job: SearchJob | None = job
        self._threads = threads
        self.tag = f"automl-trials-{next(_group_numbers)}"
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
        """Cancel the folds still running (once)."""
        if self._job is None:
            return
        self._job = None
        self._session.interruptTag(self.tag)
        self._submitter.shutdown(wait=True, cancel_futures=True)

    def _run(self, task: FoldTask) -> None:
        job, threads = self._job, self._threads
        if job is None:
            return
        self._session.addTag(self.tag)  # this driver thread's jobs

        def train(batches: Iterator[Any]) -> Iterator[Any]:
            import pyarrow as pa

            for _ in batches:  # the one row that makes this a one-task job
                pass
            outcome = _train(job, task, threads)
            yield pa.RecordBatch.from_pydict({"outcome": [outcome_to_json(outcome)]})

        try:
            one = self._session.range(1, numPartitions=1)
            (row,) = one.mapInArrow(train, "outcome string").collect()
            outcome = outcome_from_json(row["outcome"])
        except Exception as exc:  # the task itself failed: a lost executor or Python worker
            reason = f"the Spark task failed: {spark_reason(exc)[:200]}"
            outcome = FoldOutcome(task.trial, task.step, None, reason, lost=True)
        finally:
            self._session.removeTag(self.tag)
        self._outcomes.put(outcome)


def _train(job: SearchJob, task: FoldTask, threads: int) -> FoldOutcome:
    """On an executor: train the fold with the local backend."""
    from automl_spark._worker import keras_with_threads

    keras_with_threads(threads)
    return run_fold(job, LocalBackend(), task)


def outcome_to_json(outcome: FoldOutcome) -> str:
    """A fold's outcome as JSON: what the driver keeps of it (the model and preprocessor only
    packed, as base64, when the job packs them)."""
    record = None
    if outcome.record is not None:
        result, packed = outcome.record.result, outcome.record.packed
        record = {
            "history": result.history,
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "seconds": result.seconds,
            "valid_proba": np.asarray(result.valid_proba, dtype=np.float64).tolist(),
            "n_params": result.n_params,
            "scores": outcome.record.scores,
            "packed": None if packed is None else base64.b64encode(packed).decode("ascii"),
        }
    body = {"trial": outcome.trial, "step": outcome.step, "error": outcome.error}
    states = {"lost": outcome.lost, "pruned": outcome.pruned, "rungs": outcome.rungs}
    return json.dumps({**body, **states, "record": record})


def outcome_from_json(text: str) -> FoldOutcome:
    """The :class:`FoldOutcome` :func:`outcome_to_json` wrote."""
    data = json.loads(text)
    record = None
    if data["record"] is not None:
        fields = dict(data["record"])
        scores, packed = fields.pop("scores"), fields.pop("packed")
        proba = np.asarray(fields.pop("valid_proba"), dtype=np.float64)
        result = FoldResult(valid_proba=proba, **fields)
        record = FoldRecord(
            result, scores, None, None if packed is None else base64.b64decode(packed)
        )
    states = {"lost": data["lost"], "pruned": data["pruned"], "rungs": data["rungs"]}
    return FoldOutcome(data["trial"], data["step"], record, data["error"], **states)
