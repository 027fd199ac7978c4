"""The one SparkSession of a search: started on first use, reused by every trial, then stopped.

A Spark master URL comes from the backend's options; any master works (``local[N]``,
``spark://host:port``, ``yarn``, ``k8s://...``), and ``sc://host:port`` connects to a Spark
Connect server instead (no JVM in this process, so no Java needed here). Any Spark setting passes
through ``conf``.
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
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from automl.errors import UserError

INSTALL_HINT = "pip install automl-spark (it brings pyspark), or pip install 'pyspark>=4.1'"
_LOCAL_MASTER = re.compile(r"local(\[(\*|\d+)(,\s*\d+)?\])?$")
_LOOPBACK = "127.0.0.1"
_SLOT_PROBE_ROWS = 1 << 16  # more rows than any cluster has cores
DEFAULT_MASTER = "local[*]"
REMOTE_SCHEME = "sc://"
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

    @property
    def is_remote(self) -> bool:
        """Whether the session is a Spark Connect client (an ``sc://`` URL)."""
        return (self.master or "").startswith(REMOTE_SCHEME)


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
    """pyspark importable, Java found (or, for Spark Connect, its client's packages) and a
    ``spark://`` or ``sc://`` address answering, without starting Spark.

    Raises:
        UserError: naming what is missing and how to get it.
    """
    try:
        import pyspark  # noqa: F401 - only whether it imports
    except ImportError:
        raise UserError(f"backend: the Spark backends need pyspark: {INSTALL_HINT}") from None
    if options.is_remote:
        check_connect_client()
    elif find_java(os.environ) is None:
        raise UserError(_NO_JAVA)
    check_master_reachable(options.master or DEFAULT_MASTER, options.start_timeout)


def check_connect_client() -> None:
    """The Spark Connect client's packages import (``pyspark[connect]`` brings them).

    Raises:
        UserError: naming the missing package and what to install.
    """
    try:
        from pyspark.sql.connect.utils import check_dependencies

        check_dependencies()
    except ImportError as exc:
        raise UserError(
            f"backend.options.master: Spark Connect needs its client packages ({exc}): "
            "pip install 'pyspark[connect]'"
        ) from None


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
    if options.is_remote:
        return _connect(options, active)
    if active is not None:
        running = active.conf.get("spark.master")
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
    _wait_for_executors(session, options)
    return session, True


def _connect(options: SessionOptions, active: Any) -> tuple[Any, bool]:
    """A Spark Connect session to ``options.master``: the one this process holds, else a new
    one (``conf`` passes through as the session's settings)."""
    from pyspark.sql import SparkSession

    check_connect_client()
    check_master_reachable(str(options.master), options.start_timeout)
    builder = SparkSession.builder.remote(str(options.master))
    for key, value in options.conf.items():
        builder = builder.config(str(key), str(value))
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise UserError(
            f"backend.options.master: no Spark Connect session at '{options.master}': {exc}"
        ) from None
    return session, session is not active


def session_conf(options: SessionOptions) -> dict[str, str]:
    """Spark settings for ``options``: quiet defaults, loopback for local masters, then ``conf``."""
    conf = {
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": "ERROR",
        "spark.python.worker.reuse": "true",
        # a barrier job waits 30 s, not 10 minutes, for slots lost with an executor to return
        "spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures": "30",
        "spark.scheduler.barrier.maxConcurrentTasksCheck.interval": "1s",
    }
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
    """For ``spark://`` masters and ``sc://`` Spark Connect servers, open a TCP connection to
    each listed address within ``timeout``.

    Other masters (local, yarn, k8s) are left to Spark and to the executor wait.
    """
    scheme = next((s for s in ("spark://", REMOTE_SCHEME) if master.startswith(s)), None)
    if scheme is None:
        return
    addresses = master.removeprefix(scheme).split("/", 1)[0].split(";", 1)[0]
    for address in addresses.split(","):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise UserError(
                f"backend.options.master: '{master}' is not a Spark master URL; "
                f"expected {scheme}HOST:PORT"
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
    cluster a task owns ``spark.task.cpus`` cores (default 1). Read from the session's settings,
    so it holds on Spark Connect too.
    """
    match = _LOCAL_MASTER.match(session.conf.get("spark.master", DEFAULT_MASTER))
    if match:
        slots = match.group(2)
        cores = os.cpu_count() or 1
        tasks = cores if slots in (None, "*") else int(slots)
        return max(1, cores // max(1, tasks))
    return max(1, int(session.conf.get("spark.task.cpus", "1")))


def task_slots(session: Any) -> int:
    """How many tasks Spark runs at once: the partitions it gives a table by default.

    Spark splits ``range`` into its default parallelism (the cores of the registered executors);
    counting those partitions is one small job, and works the same over Spark Connect.
    """
    from pyspark.sql import functions as F

    probe = session.range(_SLOT_PROBE_ROWS).select(F.spark_partition_id().alias("slot"))
    return max(1, probe.distinct().count())


def _wait_for_executors(session: Any, options: SessionOptions) -> None:
    """Wait until a cluster master runs a first job (an executor has registered); stop Spark
    and fail if none does within ``options.start_timeout``."""
    if options.is_local:
        return
    tag = f"automl-start-{uuid.uuid4().hex}"
    ran = threading.Event()

    def first_job() -> None:
        session.addTag(tag)
        session.range(1).count()
        ran.set()

    threading.Thread(target=first_job, name="automl-spark-start", daemon=True).start()
    if not ran.wait(options.start_timeout):
        session.interruptTag(tag)
        session.stop()
        raise UserError(
            f"backend.options.master: no Spark executor registered with '{options.master}' "
            f"within {options.start_timeout:g} s (is a worker running and reachable?)"
        )
