"""The spark-async backend on a real local[2] Spark: the contract suite, hogwild, the algorithm
with one worker, a failed fold and a worker killed mid-round."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import log_loss

from automl.errors import TrialFailed, UserError
from automl.keras import new_model
from automl.plugins import registry
from automl.spec import ModelSpec
from automl.testing import SPEC, BackendContract, tiny_fold
from automl.training import FoldData, TrainSettings
from automl_spark import SparkAsyncBackend

MASTER = "local[2]"  # the shared session's master (conftest.py)


def _backend(**options: Any) -> SparkAsyncBackend:
    return SparkAsyncBackend(master=MASTER, threads_per_worker=1, **options)


class TestSparkAsyncBackend(BackendContract):
    @pytest.fixture(autouse=True)
    def _shared_session(self, spark: Any) -> None:
        """Start the shared session before the backend is used, so that it reuses it."""

    def make_backend(self) -> SparkAsyncBackend:
        return _backend(batches_per_round=1)


def test_the_entry_point_registers_spark_async_with_its_options() -> None:
    info = registry().backend("spark-async")
    assert info.package == "automl-spark"
    assert info.options["hogwild"] is False
    assert info.options["server_port"] == 0


def test_the_server_binds_loopback_for_a_local_master_unless_told(spark: Any) -> None:
    assert _backend()._server_host(spark) == "127.0.0.1"
    assert _backend(server_host="::1")._server_host(spark) == "::1"


def test_an_address_the_server_cannot_bind_is_a_user_error(spark: Any) -> None:
    backend = _backend(server_host="192.0.2.1")  # TEST-NET-1: never this machine's address
    with pytest.raises(UserError, match=r"backend\.options\.server_host: .* cannot listen on"):
        backend.evaluate(SPEC, tiny_fold(), TrainSettings(max_epochs=1))


@pytest.mark.parametrize("option", ["max_staleness", "server_port", "socket_timeout"])
def test_a_negative_option_is_a_user_error(option: str) -> None:
    with pytest.raises(UserError, match=rf"backend\.options\.{option}: must be at least"):
        _backend(**{option: -1})


@pytest.mark.parametrize("hogwild", [False, True], ids=["locked", "hogwild"])
def test_async_training_learns(spark: Any, hogwild: bool) -> None:
    data = tiny_fold()
    backend = _backend(batches_per_round=1, hogwild=hogwild)
    result = backend.evaluate(SPEC, data, TrainSettings(max_epochs=6, patience=6))
    chance = np.log(3)
    assert log_loss(data.y_valid, result.valid_proba) < 0.8 * chance
    assert result.history["loss"][-1] < result.history["loss"][0]


def test_one_worker_trains_exactly_like_a_local_fit(spark: Any) -> None:
    """One partition, one batch per round: pull, train, push must reproduce ``model.fit``."""
    data = tiny_fold()
    settings = TrainSettings(max_epochs=1)
    backend = _backend(partitions=1, batches_per_round=1, shuffle=False)
    trained = backend.fit(SPEC, data.x_train, data.y_train, 3, settings, epochs=1)
    reference = new_model(SPEC, data.x_train.shape, 3, settings.seed, 1)
    reference.fit(data.x_train, data.y_train, batch_size=SPEC.batch_size, shuffle=False, verbose=0)
    for got, want in zip(trained.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_a_failed_fold_stops_its_server(spark: Any) -> None:
    data = tiny_fold()
    poisoned = FoldData(data.x_train * 1e30, data.y_train, data.x_valid, data.y_valid, 3)
    spec = ModelSpec(hidden_units=(4,), optimizer="sgd", learning_rate=1e6)
    with pytest.raises(TrialFailed, match="NaN"):
        _backend().evaluate(spec, poisoned, TrainSettings(max_epochs=3))
    assert not [t for t in threading.enumerate() if t.name.startswith("automl-paramserver")]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Spark's workers through /proc")
def test_a_worker_killed_mid_round_reruns_the_epoch_and_the_fold_finishes(spark: Any) -> None:
    """A barrier stage is not retried by Spark: the driver runs the epoch again, and says so."""
    data = tiny_fold(rows=3000)  # 1000 training rows a partition: 63 rounds an epoch
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = _backend(batches_per_round=1, epoch_timeout=120, server_port=port)
    killed: list[int] = []

    def kill_in_the_second_epoch(epoch: int, logs: dict[str, float]) -> None:
        if epoch == 1:
            killer = threading.Thread(target=lambda: killed.extend(_kill_a_worker_of(port)))
            killer.start()

    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = backend.evaluate(
            SPEC, data, TrainSettings(max_epochs=2, patience=2), on_epoch=kill_in_the_second_epoch
        )
    assert killed, "no Spark worker was seen talking to the parameter server"
    reruns = [str(w.message) for w in caught if "running the epoch again" in str(w.message)]
    assert len(reruns) == 1
    assert reruns[0].startswith("spark-async: a task failed in epoch 2; running the epoch again")
    assert result.epochs_run == 2 and np.isfinite(result.history["val_loss"]).all()
    assert time.monotonic() - started < 2 * 120


def test_an_epoch_past_its_timeout_fails_the_fold_and_stops_its_jobs(spark: Any) -> None:
    backend = _backend(batches_per_round=1, epoch_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(TrialFailed, match=r"epoch 1 took longer than epoch_timeout \(0.5 s\)"):
        backend.evaluate(SPEC, tiny_fold(rows=6000), TrainSettings(max_epochs=3))
    assert time.monotonic() - started < 60
    assert not [t for t in threading.enumerate() if t.name.startswith("automl-")]
    assert spark.sparkContext.statusTracker().getActiveJobsIds() == []


def _kill_a_worker_of(port: int, deadline: float = 60) -> list[int]:
    """SIGKILL a pyspark Python worker while it is connected to the server on ``port``, i.e.
    in the middle of its task; return its pid."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        connections = _sockets_connected_to(port)
        for pid in _spark_workers():
            if _socket_inodes(pid) & connections:
                time.sleep(0.1)  # a few rounds in
                os.kill(pid, signal.SIGKILL)
                return [pid]
        time.sleep(0.02)
    return []


def _sockets_connected_to(port: int) -> set[str]:
    """Inodes of this machine's TCP sockets whose remote end is ``port`` (from /proc/net)."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    return inodes


def _spark_workers() -> list[int]:
    """The Python workers pyspark's daemon (``-m pyspark.daemon``) forked: its children."""
    forked = {}  # every process running the daemon's code, and its parent
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"pyspark.daemon" in (entry / "cmdline").read_bytes():
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                forked[int(entry.name)] = int(stat[1])
        except OSError:
            continue
    return [pid for pid, parent in forked.items() if parent in forked]
