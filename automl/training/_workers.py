"""Worker processes on this machine: each sets itself up once, then answers tasks one at a time.

The engine's trial pool (:class:`automl.tuning.ProcessPool`) and a backend that trains folds in
processes of its own (the ``processes`` plugin) both run on :class:`WorkerProcesses`. Workers start
fresh (``spawn``: forking a process that has loaded TensorFlow is not safe) and ignore Ctrl-C,
which is the caller's to handle. A worker that dies is replaced and its task reported lost; one
that has answered ``recycle_after`` tasks is replaced by a fresh process while idle.
"""

from __future__ import annotations

import contextlib
import signal
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from typing import Any, cast

from automl.errors import failure_reason
from automl.training._contract import Backend


@dataclass
class Finished:
    """A task's answer: the handler's ``result``, or why there is none.

    ``error`` is the handler's exception (type and first line, ``error_type`` its class name);
    ``lost`` says the worker itself died (killed, out of memory) rather than the handler failing.
    """

    task: Any
    result: Any = None
    error: str = ""
    error_type: str = ""
    lost: bool = False


@dataclass
class _Worker:
    process: Any
    connection: Connection
    task: Any = field(default=None)
    busy: bool = False
    abandoned: bool = False
    answered: int = 0


class WorkerProcesses:
    """``size`` spawned processes, each running ``handle(start(), task)`` for the tasks it gets.

    Args:
        size: worker processes, one task each at a time.
        start: called once in each new worker; what it returns is the worker's state (a backend,
            say). Must be picklable (a module-level function or a ``functools.partial`` of one).
        handle: ``handle(state, task)`` answers one task in the worker; picklable too.
        recycle_after: tasks a worker answers before a fresh process replaces it (``None``:
            never).
    """

    def __init__(
        self,
        size: int,
        start: Callable[[], Any],
        handle: Callable[[Any, Any], Any],
        *,
        recycle_after: int | None = None,
    ) -> None:
        self.size = size
        self.recycle_after = recycle_after
        self._start_state = start
        self._handle = handle
        self._context = get_context("spawn")
        self._queue: deque[Any] = deque()
        self._workers = [self._spawn() for _ in range(size)]

    def submit(self, task: Any) -> None:
        """Queue a task; it starts as soon as a worker is free."""
        self._queue.append(task)
        self._dispatch()

    def wait(self, timeout: float) -> list[Finished]:
        """The answers that arrive within ``timeout`` seconds (lost ones for workers that died);
        answers to abandoned tasks are dropped."""
        busy = {w.connection: w for w in self._workers if w.busy}
        finished: list[Finished] = []
        for ready in wait(list(busy), timeout):
            connection = cast(Connection, ready)  # wait returns the objects it was given
            worker = busy[connection]
            try:
                answer = connection.recv()
            except (EOFError, OSError):
                answer = self._lost(worker)
            worker.answered += 1
            worker.busy = False
            if not worker.abandoned:
                finished.append(answer)
            worker.task, worker.abandoned = None, False
        for index, worker in enumerate(self._workers):
            if not worker.busy and self.recycle_after and worker.answered >= self.recycle_after:
                self._workers[index] = self._recycle(worker)
        self._dispatch()
        return finished

    def abandon(self) -> None:
        """Forget the queued tasks, and drop the answers of those running when they arrive (the
        workers finish them and go on with the next tasks)."""
        self._queue.clear()
        for worker in self._workers:
            worker.abandoned = worker.busy

    def pids(self) -> list[int]:
        """The workers' process ids, in worker order."""
        return [worker.process.pid for worker in self._workers]

    def close(self) -> None:
        """Stop every worker; one still busy is terminated."""
        for worker in self._workers:
            if not worker.busy and worker.process.is_alive():
                with contextlib.suppress(OSError):  # it died meanwhile
                    worker.connection.send(None)
            else:
                worker.process.terminate()
        for worker in self._workers:
            _join(worker)
            worker.connection.close()
        self._workers = []
        self._queue.clear()

    def _spawn(self) -> _Worker:
        driver_end, worker_end = self._context.Pipe()
        process = self._context.Process(
            target=_serve,
            args=(worker_end, self._start_state, self._handle),
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
            if worker.busy:
                continue
            if not worker.process.is_alive():
                worker = self._workers[index] = self._replace(worker)
            worker.task, worker.busy = self._queue.popleft(), True
            worker.connection.send(worker.task)

    def _lost(self, worker: _Worker) -> Finished:
        """The answer of a worker that died during its task; a new worker takes its place."""
        worker.process.join(timeout=10)
        code = worker.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
        task = worker.task
        self._workers[self._workers.index(worker)] = self._replace(worker)
        return Finished(task, error=f"the worker process died ({how})", lost=True)

    def _recycle(self, worker: _Worker) -> _Worker:
        """Stop an idle worker that has answered its share of tasks and start a fresh one."""
        with contextlib.suppress(OSError):  # it died meanwhile
            worker.connection.send(None)
        _join(worker)
        return self._replace(worker)

    def _replace(self, worker: _Worker) -> _Worker:
        worker.connection.close()
        return self._spawn()


def backend_in_process(
    factory: Callable[..., Backend], options: dict[str, Any], threads: int
) -> Backend:
    """A worker's state for training: the backend made from ``options`` and set up for
    ``threads`` of the machine's cores (use it as ``start`` with ``functools.partial``)."""
    backend = factory(**options)
    backend.configure_process(threads)
    return backend


def _join(worker: _Worker) -> None:
    worker.process.join(timeout=10)
    if worker.process.is_alive():
        worker.process.kill()
        worker.process.join()


def _serve(
    connection: Connection, start: Callable[[], Any], handle: Callable[[Any, Any], Any]
) -> None:
    """A worker's life: make its state, then answer the tasks the caller sends until ``None``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    state = start()
    try:
        while (task := connection.recv()) is not None:
            try:
                answer = Finished(task, handle(state, task))
            except Exception as exc:  # the caller decides what a failed task means
                answer = Finished(task, error=failure_reason(exc), error_type=type(exc).__name__)
            connection.send(answer)
    except (EOFError, OSError):  # the caller is gone
        return
    finally:
        close = getattr(state, "close", None)
        if close is not None:
            close()
