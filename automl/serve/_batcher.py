"""Micro-batching: one model thread takes every request waiting (up to a row cap), predicts their
rows in one call, and hands each request its own rows back."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from automl.serve._errors import HttpError

RETRY_AFTER_SECONDS = 1


@dataclass
class _Job:
    features: pd.DataFrame
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future
    queued: float = field(default_factory=time.perf_counter)


class Batcher:
    """Runs ``predict`` (rows in, one result row per input row out) on a thread of its own.

    ``max_queue`` requests may wait; one more is refused with 503. A batch takes waiting requests
    in arrival order until ``batch_rows`` rows (a larger request goes alone). :attr:`on_batch`,
    when set, hears each model call's rows and each request's wait in the queue, in seconds.
    """

    def __init__(
        self,
        predict: Callable[[pd.DataFrame], pd.DataFrame],
        *,
        max_queue: int,
        batch_rows: int,
    ) -> None:
        self._predict = predict
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=max_queue)
        self._batch_rows = batch_rows
        self.on_batch: Callable[[int, list[float]], None] | None = None
        self._held: _Job | None = None
        self._stopping = threading.Event()
        self.running_rows = 0  # rows in the model call under way (0: idle)
        self._thread = threading.Thread(target=self._serve, name="automl-model", daemon=True)

    @property
    def waiting(self) -> int:
        """Requests waiting for the model now."""
        return self._queue.qsize()

    def start(self) -> None:
        """Start the model thread."""
        self._thread.start()

    def stop(self) -> None:
        """Finish the requests already queued, then end the model thread."""
        self._stopping.set()
        with contextlib.suppress(queue.Full):  # a full queue: the thread is busy, sees the flag
            self._queue.put_nowait(None)  # wakes the thread if it waits for a request
        if self._thread.is_alive():
            self._thread.join()

    async def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """The prediction rows of ``features``, from the next batch that has room for them.

        Raises:
            HttpError: 503 when ``max_queue`` requests are waiting already.
        """
        loop = asyncio.get_running_loop()
        job = _Job(features, loop, loop.create_future())
        try:
            if self._stopping.is_set():
                raise queue.Full
            self._queue.put_nowait(job)
        except queue.Full:
            raise HttpError(
                503,
                f"request: the server is busy ({self._queue.maxsize} requests waiting) or "
                f"stopping; retry in {RETRY_AFTER_SECONDS} s",
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from None
        result: pd.DataFrame = await job.done
        return result

    def _serve(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                return
            self._run(batch)

    def _next_batch(self) -> list[_Job]:
        """The held-over request or the next to arrive (waiting for one), then all that wait
        while the rows fit; empty once :meth:`stop` was called and the queue is done."""
        first, self._held = self._held, None
        while first is None:
            if self._stopping.is_set() and self._queue.empty():
                return []
            first = self._queue.get()  # None: the wake-up of stop()
        batch, rows = [first], len(first.features)
        while rows < self._batch_rows:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                continue
            if rows + len(job.features) > self._batch_rows:
                self._held = job
                break
            batch.append(job)
            rows += len(job.features)
        return batch

    def _run(self, batch: list[_Job]) -> None:
        started = time.perf_counter()
        features = [job.features for job in batch]
        try:
            rows = features[0] if len(batch) == 1 else pd.concat(features, ignore_index=True)
            self.running_rows = len(rows)
            result = self._predict(rows)
        except Exception as exc:  # every request of the batch fails with it (the server goes on)
            for job in batch:
                job.loop.call_soon_threadsafe(_settle, job.done, None, exc)
            return
        finally:
            self.running_rows = 0
        if self.on_batch is not None:
            self.on_batch(len(rows), [started - job.queued for job in batch])
        start = 0
        for job in batch:
            end = start + len(job.features)
            part = result.iloc[start:end].reset_index(drop=True)
            job.loop.call_soon_threadsafe(_settle, job.done, part, None)
            start = end


def _settle(done: asyncio.Future, result: pd.DataFrame | None, error: Exception | None) -> None:
    """Hand a request its rows (or the batch's error) unless it was given up meanwhile."""
    if done.cancelled():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)
