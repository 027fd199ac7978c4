"""A Spark Connect server on this machine, for trying the backends over ``sc://`` and for tests.

pyspark's pip package ships the server (``SparkConnectServer`` in ``jars/spark-connect_*.jar``);
:func:`local_connect_server` starts it on loopback in its own process group, on a ``local[N]``
master whose Python workers run this interpreter, waits until it answers, and stops it when the
block ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
_LOOPBACK = "127.0.0.1"


@contextlib.contextmanager
def local_connect_server(
    log: Path,
    master: str = "local[2]",
    conf: Mapping[str, str] | None = None,
    start_timeout: float = 120.0,
) -> Iterator[str]:
    """Run a Spark Connect server for the block; yields its ``sc://127.0.0.1:PORT`` URL.

    Raises:
        RuntimeError: the server exited or did not answer within ``start_timeout`` seconds
            (the message ends with its log).
    """
    import pyspark

    home = Path(pyspark.__file__).parent
    port = _free_port()
    settings = {
        "spark.connect.grpc.binding.address": _LOOPBACK,
        "spark.connect.grpc.binding.port": str(port),
        "spark.driver.host": _LOOPBACK,
        "spark.driver.bindAddress": _LOOPBACK,
        "spark.ui.enabled": "false",
        "spark.pyspark.python": sys.executable,
        "spark.log.level": "ERROR",
        **(conf or {}),
    }
    command = [str(home / "bin" / "spark-submit"), "--master", master]
    command += [f"--conf={key}={value}" for key, value in settings.items()]
    jar = next((home / "jars").glob("spark-connect_*.jar"))
    command += ["--jars", str(jar), "--class", _SERVER_CLASS, "spark-internal"]
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": _LOOPBACK,
        "PYSPARK_PYTHON": sys.executable,  # what the server's Python workers run (not the conf)
    }
    with log.open("w") as output:
        server = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        _wait_until_listening(server, port, log, start_timeout)
        yield f"sc://{_LOOPBACK}:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def _wait_until_listening(server: subprocess.Popen, port: int, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the Spark Connect server did not start: {log.read_text()[-3000:]}")
        try:
            socket.create_connection((_LOOPBACK, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((_LOOPBACK, 0))
        return int(probe.getsockname()[1])
