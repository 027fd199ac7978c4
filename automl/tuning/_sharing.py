"""A study several processes share: heartbeats, stale trials, retries, and SQLite's one process.

On a database server (PostgreSQL, MySQL) any number of ``automl search`` processes, on any hosts,
run trials of one study. Each process records a heartbeat for the trials it runs; a trial whose
process stopped beating for three intervals is failed by whichever process looks next, and its
parameters are queued again once. A SQLite study is held by one process at a time: the lock goes
with the process, so a killed run frees it and the next run recovers every trial left running.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from filelock import FileLock, Timeout
from optuna.trial import FrozenTrial
from sqlalchemy.engine import make_url

from automl.errors import UserError

RETRY_ATTR = "retry_of"
GRACE_BEATS = 3


def is_shared(storage: str) -> bool:
    """Whether processes may share a study in ``storage``: any database server, not SQLite."""
    return make_url(storage).get_backend_name() != "sqlite"


def heartbeat_options(interval: int) -> dict:
    """RDBStorage settings: beat every ``interval`` seconds, fail and retry after three silent."""
    return {
        "heartbeat_interval": interval,
        "grace_period": GRACE_BEATS * interval,
        "heartbeat_stale_trial_callback": retry_trial,
    }


def retry_trial(study: optuna.Study, trial: FrozenTrial | optuna.Trial) -> None:
    """Queue a dead trial's parameters again, once: a retry whose process dies too is not queued
    again (a design that kills its worker every time would otherwise loop forever)."""
    if trial.params and RETRY_ATTR not in trial.user_attrs:
        study.enqueue_trial(trial.params, user_attrs={RETRY_ATTR: trial.number})


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail the study's trials whose process stopped beating, and queue them again."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


class Heartbeat:
    """Records a heartbeat for every trial this process runs, from a thread, while in use.

    Optuna beats only inside ``Study.optimize``; the ask/tell loop registers its trials here.
    A storage without heartbeats (SQLite here) makes this a no-op.
    """

    def __init__(self, study: optuna.Study) -> None:
        storage = study._storage  # as optuna.storages.fail_stale_trials reads it
        beats = getattr(storage, "get_heartbeat_interval", lambda: None)() is not None
        self._storage: Any = storage if beats else None
        self._trials: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self._storage is not None:
            self._thread = threading.Thread(target=self._run, name="automl-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def add(self, trial_id: int) -> None:
        """Beat for ``trial_id`` from now on, starting at once."""
        if self._storage is None:
            return
        self._storage.record_heartbeat(trial_id)
        with self._lock:
            self._trials.add(trial_id)

    def remove(self, trial_id: int) -> None:
        """Stop beating for ``trial_id`` (it ended)."""
        with self._lock:
            self._trials.discard(trial_id)

    def _run(self) -> None:
        interval = self._storage.get_heartbeat_interval()
        while not self._stop.wait(interval):
            with self._lock:
                trials = list(self._trials)
            for trial_id in trials:
                with contextlib.suppress(Exception):  # a lost connection: the next beat retries
                    self._storage.record_heartbeat(trial_id)


@contextlib.contextmanager
def hold_sqlite(storage: str) -> Iterator[None]:
    """Hold a SQLite study for this process; a second process is refused with a pointer to a
    database server. The lock (``<database>.lock`` beside it) is released when the process ends,
    however it ends."""
    database = make_url(storage).database
    alone = not database or database == ":memory:" or not Path(database).parent.is_dir()
    if is_shared(storage) or alone:  # nothing to hold (a missing folder: opening will say so)
        yield
        return
    lock = FileLock(f"{database}.lock", timeout=0, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise UserError(
            f"search.storage: {database} is in use by another automl search; a SQLite "
            "study takes one process at a time (search.parallel runs trials in parallel "
            "inside it). To run several processes or hosts on one study, put it on "
            "PostgreSQL: --storage postgresql://user@host/db"
        ) from None
    try:
        yield
    finally:
        lock.release()
