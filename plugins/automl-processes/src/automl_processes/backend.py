"""Train each fold in a worker process, ``n_jobs`` folds at once.

The search process then never builds a Keras graph of its own while searching: TensorFlow's
memory stays in the workers. TensorFlow's threads are divided among the workers, so ``n_jobs``
workers on a machine do not oversubscribe its cores. The workers are the engine's own
(:class:`automl.training.WorkerProcesses`), each training with the local backend; models come back
as ``.keras`` files and load in Keras safe mode.
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from automl.errors import TrialFailed
from automl.keras import LocalBackend
from automl.spec import ModelSpec
from automl.training import (
    Backend,
    EpochCallback,
    FoldData,
    FoldEpochCallback,
    FoldResult,
    TrainSettings,
    WorkerProcesses,
    backend_in_process,
)


@dataclass(frozen=True)
class _Fold:
    """Train one fold in a worker and save its model to ``target``."""

    number: int
    spec: ModelSpec
    data: FoldData
    settings: TrainSettings
    target: str


@dataclass(frozen=True)
class _Final:
    """Train the final model in a worker and save it to ``target``."""

    number: int
    spec: ModelSpec
    x: np.ndarray
    y: np.ndarray
    n_classes: int
    settings: TrainSettings
    epochs: int
    target: str
    sample_weight: np.ndarray | None


class ProcessBackend(Backend):
    """Run the local Keras backend in worker processes.

    Args:
        n_jobs: folds trained at once, each in its own process.
        threads_per_job: TensorFlow threads per worker (default: the machine's cores / n_jobs).
    """

    def __init__(self, n_jobs: int = 2, threads_per_job: int | None = None) -> None:
        if n_jobs < 1:
            raise ValueError("n_jobs must be at least 1")
        self.n_jobs = n_jobs
        self.threads_per_job = threads_per_job or max(1, (os.cpu_count() or 1) // n_jobs)
        self._workers: WorkerProcesses | None = None
        self._numbers = itertools.count()
        self._scratch = Path(tempfile.mkdtemp(prefix="automl-processes-"))

    def evaluate(
        self,
        spec: ModelSpec,
        data: FoldData,
        settings: TrainSettings,
        on_epoch: EpochCallback | None = None,
    ) -> FoldResult:
        """Train one fold in a worker (epochs are not reported from workers)."""
        return next(iter(self.evaluate_folds(spec, [(data, settings)])))

    def evaluate_folds(
        self,
        spec: ModelSpec,
        folds: Iterable[tuple[FoldData, TrainSettings]],
        on_epoch: FoldEpochCallback | None = None,
    ) -> Iterator[FoldResult]:
        """Submit every fold at once; yield results in fold order; drop the rest if closed."""
        workers = self._pool()
        numbers = []
        try:
            for data, settings in folds:
                number = next(self._numbers)
                target = str(self._scratch / f"fold-{number}.keras")
                workers.submit(_Fold(number, spec, data, settings, target))
                numbers.append(number)
            done: dict[int, FoldResult] = {}
            for number in numbers:
                while number not in done:
                    done.update(self._answers(workers))
                yield _with_model(done.pop(number))
        finally:
            workers.abandon()  # folds still queued or training: their answers are dropped

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
        """Train the final model (rows weighted by ``sample_weight``) in a worker; load it here."""
        workers = self._pool()
        number = next(self._numbers)
        target = str(self._scratch / f"final-{number}.keras")
        task = _Final(number, spec, x, y, n_classes, settings, epochs, target, sample_weight)
        workers.submit(task)
        done: dict[int, str] = {}
        while number not in done:
            done.update(self._answers(workers))
        return _load(done[number])

    def close(self) -> None:
        """Stop the workers and remove the scratch folder."""
        if self._workers is not None:
            self._workers.close()
            self._workers = None
        shutil.rmtree(self._scratch, ignore_errors=True)

    def _pool(self) -> WorkerProcesses:
        if self._workers is None:
            start = functools.partial(backend_in_process, LocalBackend, {}, self.threads_per_job)
            self._workers = WorkerProcesses(self.n_jobs, start, _train)
        return self._workers

    @staticmethod
    def _answers(workers: WorkerProcesses) -> dict[int, Any]:
        """The answers that arrived, by task number; a failed task fails the trial."""
        answers = {}
        for finished in workers.wait(timeout=1.0):
            if finished.error:
                known = finished.error_type == TrialFailed.__name__
                raise TrialFailed(finished.error.split(": ", 1)[1] if known else finished.error)
            answers[finished.task.number] = finished.result
        return answers


def _train(backend: LocalBackend, task: _Fold | _Final) -> FoldResult | str:
    """In a worker: train, save the model to the task's target, and hand back its path."""
    if isinstance(task, _Final):
        weights = task.sample_weight
        model = backend.fit(
            task.spec, task.x, task.y, task.n_classes, task.settings, task.epochs, weights
        )
        model.save(task.target)
        return task.target
    result = backend.evaluate(task.spec, task.data, task.settings)
    result.model.save(task.target)
    result.model = task.target
    return result


def _with_model(result: FoldResult) -> FoldResult:
    result.model = _load(result.model)
    return result


def _load(path: str) -> Any:
    import keras

    model = keras.models.load_model(path, safe_mode=True, compile=False)
    os.unlink(path)
    return model
