"""Local worker processes, each training one fold at a time with a backend of its own.

Any backend that declares itself process-safe (:attr:`automl.training.Backend.process_safe`)
runs here: each worker makes one from the backend's factory and the recipe's options, and lets it
set the process up for its share of the cores (:meth:`~automl.training.Backend.configure_process`).
Workers start fresh (``spawn``: forking a process that has loaded TensorFlow is not safe), get the
search's rows once, and each uses its share of the cores: TensorFlow's threads inside one process
do not scale small Keras models, whole trials side by side do. A worker ignores Ctrl-C, which is
the driver's to handle; a worker that dies is replaced and its fold reported as lost.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from typing import Any

from automl.training import Backend
from automl.tuning._fold import run_fold
from automl.tuning._pool import FoldOutcome, FoldTask, SearchJob, TrialPool

# Folds a worker trains before a fresh process takes its place. Every fit releases the graphs it
# traced (automl.keras.releasing_traced_graphs); a fresh process also bounds what no
# fit can release, such as a plugin's caches or allocator fragmentation, for a few seconds of
# start-up per 20 folds.
RECYCLE_AFTER = 20


@dataclass
class _Worker:
    process: Any
    connection: Connection
    task: FoldTask | None = field(default=None)
    folds: int = 0


class ProcessPool(TrialPool):
    """``size`` worker processes on this machine.

    Args:
        size: workers, one fold of one trial each at a time.
        job: the search's rows, folds, training settings and metric.
        backend_options: keyword arguments of :class:`~automl.backends.local.LocalBackend`.
        threads: TensorFlow threads per worker (default: the machine's cores / ``size``).
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
        self.recycle_after = recycle_after
        self._job = job
        self._factory = factory
        self._options = options or {}
        self._threads = threads or max(1, (os.cpu_count() or 1) // size)
        self._context = get_context("spawn")
        self._queue: deque[FoldTask] = deque()
        self._workers = [self._start() for _ in range(size)]

    def submit(self, task: FoldTask) -> None:
        """Queue a fold and hand it to a free worker, if there is one."""
        self._queue.append(task)
        self._dispatch()

    def wait(self, timeout: float) -> list[FoldOutcome]:
        """Outcomes of the folds that end within ``timeout`` seconds; lost ones for dead workers."""
        busy = {w.connection: w for w in self._workers if w.task is not None}
        outcomes = []
        for connection in wait(list(busy), timeout):
            worker = busy[connection]
            try:
                outcomes.append(connection.recv())
            except (EOFError, OSError):
                outcomes.append(self._lost(worker))
            worker.task = None
            worker.folds += 1
        for index, worker in enumerate(self._workers):
            if worker.task is None and worker.folds >= self.recycle_after:
                self._workers[index] = self._recycle(worker)
        self._dispatch()
        return outcomes

    def close(self) -> None:
        """Stop every worker; one still training is terminated."""
        for worker in self._workers:
            if worker.task is None and worker.process.is_alive():
                with contextlib.suppress(OSError):  # it died meanwhile
                    worker.connection.send(None)
            else:
                worker.process.terminate()
        for worker in self._workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()
        self._workers = []

    def _start(self) -> _Worker:
        driver_end, worker_end = self._context.Pipe()
        process = self._context.Process(
            target=_serve,
            args=(worker_end, self._job, self._factory, self._options, self._threads),
            name="automl-worker",
            daemon=True,
        )
        process.start()
        worker_end.close()
        return _Worker(process, driver_end)

    def _dispatch(self) -> None:
        for index, worker in enumerate(self._workers):
            if not self._queue:
                return
            if worker.task is not None:
                continue
            if not worker.process.is_alive():
                worker = self._workers[index] = self._replace(worker)
            worker.task = self._queue.popleft()
            worker.connection.send(worker.task)

    def _lost(self, worker: _Worker) -> FoldOutcome:
        """The outcome of a worker that died during its fold; a new worker takes its place."""
        task = worker.task
        assert task is not None
        worker.process.join(timeout=10)
        code = worker.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
        index = self._workers.index(worker)
        self._workers[index] = self._replace(worker)
        return FoldOutcome(
            task.trial, task.step, None, f"the worker process died ({how})", lost=True
        )

    def _recycle(self, worker: _Worker) -> _Worker:
        """Stop an idle worker that has trained its share of folds and start a fresh one."""
        with contextlib.suppress(OSError):  # it died meanwhile
            worker.connection.send(None)
        worker.process.join(timeout=10)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        return self._replace(worker)

    def _replace(self, worker: _Worker) -> _Worker:
        worker.connection.close()
        return self._start()


def _serve(
    connection: Connection,
    job: SearchJob,
    factory: Callable[..., Backend],
    options: dict[str, Any],
    threads: int,
) -> None:
    """A worker's life: make and set up the backend, then train the folds the driver sends until
    ``None``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    backend = factory(**options)
    backend.configure_process(threads)
    try:
        while (task := connection.recv()) is not None:
            connection.send(run_fold(job, backend, task))
    except (EOFError, OSError):  # the driver is gone
        return
    finally:
        backend.close()
