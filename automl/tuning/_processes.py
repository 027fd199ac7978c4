"""The engine's trial pool: local worker processes, each training one fold at a time with a
backend of its own.

Any backend that declares itself process-safe (:attr:`automl.training.Backend.process_safe`)
runs here: each worker makes one from the backend's factory and the recipe's options, lets it set
the process up for its share of the cores (:meth:`~automl.training.Backend.configure_process`),
and gets the search's rows once. TensorFlow's threads inside one process do not scale small Keras
models; whole trials side by side do. The processes themselves are
:class:`automl.training.WorkerProcesses`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from automl.training import Backend, Finished, WorkerProcesses, backend_in_process
from automl.tuning._fold import run_fold
from automl.tuning._pool import FoldOutcome, FoldTask, SearchJob, TrialPool

# Folds a worker trains before a fresh process takes its place. Every fit releases the graphs it
# traced (automl.keras.releasing_traced_graphs); a fresh process also bounds what no fit can
# release, such as a plugin's caches or allocator fragmentation, for a few seconds of start-up per
# 20 folds.
RECYCLE_AFTER = 20


class ProcessPool(TrialPool):
    """``size`` worker processes on this machine.

    Args:
        size: workers, one fold of one trial each at a time.
        job: the search's rows, folds, training settings and metric.
        factory: makes the backend in each worker (a process-safe :class:`Backend` class).
        options: the factory's keyword arguments (the recipe's ``backend.options``).
        threads: threads per worker (default: the machine's cores / ``size``).
        recycle_after: folds a worker trains before a fresh process replaces it.
    """

    def __init__(
        self,
        size: int,
        job: SearchJob,
        factory: Callable[..., Backend],
        options: dict[str, Any] | None = None,
        threads: int | None = None,
        recycle_after: int = RECYCLE_AFTER,
    ) -> None:
        self.size = size
        threads = threads or max(1, (os.cpu_count() or 1) // size)
        self.workers = WorkerProcesses(
            size,
            functools.partial(backend_in_process, factory, options or {}, threads),
            functools.partial(run_fold, job),
            recycle_after=recycle_after,
        )

    def submit(self, task: FoldTask) -> None:
        """Queue a fold and hand it to a free worker, if there is one."""
        self.workers.submit(task)

    def wait(self, timeout: float) -> list[FoldOutcome]:
        """Outcomes of the folds that end within ``timeout`` seconds; lost ones for dead workers."""
        return [_outcome(finished) for finished in self.workers.wait(timeout)]

    def close(self) -> None:
        """Stop every worker; one still training is terminated."""
        self.workers.close()


def _outcome(finished: Finished) -> FoldOutcome:
    """A worker's answer as a fold's outcome (run_fold turns training errors into outcomes)."""
    if isinstance(finished.result, FoldOutcome):
        return finished.result
    task: FoldTask = finished.task
    return FoldOutcome(task.trial, task.step, None, finished.error, lost=finished.lost)
