"""Train each fold in a worker process, ``n_jobs`` folds at once.

The search process then never builds a Keras graph of its own while searching: TensorFlow's
memory stays in the workers. TensorFlow's threads are divided among the workers, so ``n_jobs``
workers on a machine do not oversubscribe its cores. Models come back as ``.keras`` files and
load in Keras safe mode.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
from joblib.externals.loky import ProcessPoolExecutor

from automl.keras import prepare_tensorflow
from automl.spec import ModelSpec
from automl.training import (
    Backend,
    EpochCallback,
    FoldData,
    FoldEpochCallback,
    FoldResult,
    TrainSettings,
)


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
        self._executor: ProcessPoolExecutor | None = None
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
        """Submit every fold at once; yield results in fold order; cancel the rest if closed."""
        pending: list[Future] = []
        try:
            for index, (data, settings) in enumerate(folds):
                target = str(self._scratch / f"fold-{os.getpid()}-{id(pending)}-{index}.keras")
                pending.append(
                    self._pool().submit(_evaluate_in_worker, spec, data, settings, target)
                )
            for future in pending:
                yield _with_model(future.result())
        finally:
            for future in pending:
                future.cancel()

    def fit(
        self,
        spec: ModelSpec,
        x: np.ndarray,
        y: np.ndarray,
        n_classes: int,
        settings: TrainSettings,
        epochs: int,
    ) -> Any:
        """Train the final model in a worker and load it here."""
        target = str(self._scratch / "final.keras")
        future = self._pool().submit(
            _fit_in_worker, spec, x, y, n_classes, settings, epochs, target
        )
        return _load(future.result())

    def close(self) -> None:
        """Stop the workers and remove the scratch folder."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, kill_workers=True)
            self._executor = None
        shutil.rmtree(self._scratch, ignore_errors=True)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.n_jobs,
                initializer=prepare_tensorflow,
                initargs=(self.threads_per_job,),
            )
        return self._executor


def _evaluate_in_worker(
    spec: ModelSpec, data: FoldData, settings: TrainSettings, target: str
) -> FoldResult:
    from automl.keras import LocalBackend

    result = LocalBackend().evaluate(spec, data, settings)
    result.model.save(target)
    result.model = target
    return result


def _fit_in_worker(
    spec: ModelSpec,
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    settings: TrainSettings,
    epochs: int,
    target: str,
) -> str:
    from automl.keras import LocalBackend

    LocalBackend().fit(spec, x, y, n_classes, settings, epochs).save(target)
    return target


def _with_model(result: FoldResult) -> FoldResult:
    result.model = _load(result.model)
    return result


def _load(path: str) -> Any:
    import keras

    model = keras.models.load_model(path, safe_mode=True, compile=False)
    os.unlink(path)
    return model
