"""The one SparkSession of a search: started on first use, reused by every trial, then stopped.

A Spark master URL comes from the backend's options; any master works (``local[N]``,
``spark://host:port``, ``yarn``, ``k8s://...``) and any Spark setting passes through ``conf``.
Without a master, a session already running in the process is used (a notebook's, or the one a
pyspark.ml Estimator is fitted in), else Spark starts on ``local[*]``. For a local master the
Python workers run this interpreter and all traffic stays on loopback. A missing pyspark, a
missing Java or an unreachable master is a one-line :class:`~automl.errors.UserError`, never a
hang.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from automl.errors import UserError

INSTALL_HINT = "pip install automl-spark (it brings pyspark), or pip install 'pyspark>=4.1'"
_LOCAL_MASTER = re.compile(r"local(\[(\*|\d+)(,\s*\d+)?\])?$")
_LOOPBACK = "127.0.0.1"
DEFAULT_MASTER = "local[*]"
_NO_JAVA = (
    "backend: Spark needs Java 17 or 21 and none was found: install a JDK and put `java` on PATH "
    "or set JAVA_HOME"
)


@dataclass(frozen=True)
class SessionOptions:
    """Where and how to start Spark.

    Args:
        master: a Spark master URL (``local[*]`` runs Spark inside this process on every core);
            ``None`` uses the session already running in this process, else ``local[*]``.
        conf: Spark settings passed through as they are (e.g. ``spark.executor.memory``).
        start_timeout: seconds to wait for the master to answer and for executors to register.
        app_name: the application name shown by the Spark master.
    """

    master: str | None = None
    conf: Mapping[str, str] = field(default_factory=dict)
    start_timeout: float = 60.0
    app_name: str = "automl"

    @property
    def is_local(self) -> bool:
        """Whether Spark runs inside this process (a ``local`` master)."""
        return bool(_LOCAL_MASTER.match(self.master or DEFAULT_MASTER))


class SparkSessionHolder:
    """Starts the session on first :meth:`get`; :meth:`close` stops it if this holder started it.

    A session already running in this process with the same master is reused and left running
    (a notebook's session, or a test suite's shared one). Making a holder checks what can be
    checked without starting Spark (:func:`check_prerequisites`), so that a search fails with a
    user error before its first trial rather than in every trial.
    """

    def __init__(self, options: SessionOptions) -> None:
        check_prerequisites(options)
        self.options = options
        self._session: Any = None
        self._owned = False

    def get(self) -> Any:
        """The SparkSession, started (or found) on the first call."""
        if self._session is None:
            self._session, self._owned = spark_session(self.options)
        return self._session

    def close(self) -> None:
        """Stop the session if this holder started it."""
        if self._session is not None and self._owned:
            self._session.stop()
        self._session, self._owned = None, False


def check_prerequisites(options: SessionOptions) -> None:
    """pyspark importable, Java found and a ``spark://`` master answering, without starting Spark.

    Raises:
        UserError: naming what is missing and how to get it.
    """
    try:
        import pyspark  # noqa: F401 - only whether it imports
    except ImportError:
        raise UserError(f"backend: the Spark backends need pyspark: {INSTALL_HINT}") from None
    if find_java(os.environ) is None:
        raise UserError(_NO_JAVA)
    check_master_reachable(options.master or DEFAULT_MASTER, options.start_timeout)


def spark_session(options: SessionOptions) -> tuple[Any, bool]:
    """Return ``(session, started)``: the running session (for ``options.master``) or a new one.

    Raises:
        UserError: pyspark is missing, Java is missing, the master cannot be reached, no executor
            registers within ``options.start_timeout``, or a session with another master runs.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UserError(f"backend: the Spark backends need pyspark: {INSTALL_HINT}") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        running = active.sparkContext.master
        if options.master not in (None, running):
            raise UserError(
                f"backend.options.master: this process already runs Spark on '{running}'; "
                f"one process can hold one Spark master, not also '{options.master}'"
            )
        return active, False
    if find_java(os.environ) is None:
        raise UserError(_NO_JAVA)
    master = options.master or DEFAULT_MASTER
    check_master_reachable(master, options.start_timeout)
    builder = SparkSession.builder.master(master).appName(options.app_name)
    conf = session_conf(options)
    for key, value in conf.items():
        builder = builder.config(key, value)
    if "spark.pyspark.python" in conf:  # pyspark reads it from the environment, not the conf
        os.environ["PYSPARK_PYTHON"] = conf["spark.pyspark.python"]
    if options.is_local:
        os.environ["SPARK_LOCAL_IP"] = _LOOPBACK
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise UserError(f"backend: Spark did not start on '{master}': {exc}") from None
    session.sparkContext.setLogLevel("ERROR")
    _wait_for_executors(session, options)
    return session, True


def session_conf(options: SessionOptions) -> dict[str, str]:
    """Spark settings for ``options``: quiet defaults, loopback for local masters, then ``conf``."""
    conf = {"spark.ui.showConsoleProgress": "false", "spark.python.worker.reuse": "true"}
    if options.is_local:
        conf |= {
            "spark.pyspark.python": sys.executable,
            "spark.driver.host": _LOOPBACK,
            "spark.driver.bindAddress": _LOOPBACK,
            "spark.ui.enabled": "false",
        }
    return conf | {str(k): str(v) for k, v in options.conf.items()}


def find_java(environ: Mapping[str, str]) -> str | None:
    """The ``java`` Spark would run: ``$JAVA_HOME/bin/java``, else the first on PATH, else None."""
    home = environ.get("JAVA_HOME")
    if home:
        candidate = os.path.join(home, "bin", "java")
        return candidate if os.access(candidate, os.X_OK) else None
    return shutil.which("java", path=environ.get("PATH", ""))


def check_master_reachable(master: str, timeout: float) -> None:
    """For ``spark://`` masters, open a TCP connection to each listed master within ``timeout``.

    Other masters (local, yarn, k8s) are left to Spark and to the executor wait.
    """
    if not master.startswith("spark://"):
        return
    for address in master.removeprefix("spark://").split(","):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise UserError(
                f"backend.options.master: '{master}' is not a Spark master URL; "
                "expected spark://HOST:PORT"
            )
        try:
            with socket.create_connection((host, int(port)), timeout=min(timeout, 10.0)):
                pass
        except OSError as exc:
            raise UserError(
                f"backend.options.master: cannot reach the Spark master at {host}:{port} "
                f"({exc.strerror or exc})"
            ) from None


def threads_per_task(session: Any) -> int:
    """TensorFlow threads for one task's Python worker, so that concurrent tasks share the cores.

    A local master runs its tasks on this machine's cores (``local[N]``: cores / N each); on a
    cluster a task owns ``spark.task.cpus`` cores (default 1).
    """
    context = session.sparkContext
    match = _LOCAL_MASTER.match(context.master)
    if match:
        slots = match.group(2)
        cores = os.cpu_count() or 1
        tasks = cores if slots in (None, "*") else int(slots)
        return max(1, cores // max(1, tasks))
    return max(1, int(context.getConf().get("spark.task.cpus", "1")))


def _wait_for_executors(session: Any, options: SessionOptions) -> None:
    """Wait until an executor has registered with a cluster master; stop Spark and fail if none."""
    if options.is_local:
        return
    status = session.sparkContext._jsc.sc().getExecutorMemoryStatus
    deadline = time.monotonic() + options.start_timeout
    while status().size() < 2:  # the driver counts as one
        if time.monotonic() > deadline:
            session.stop()
            raise UserError(
                f"backend.options.master: no Spark executor registered with '{options.master}' "
                f"within {options.start_timeout:g} s (is a worker running and reachable?)"
            )
        time.sleep(0.2)
