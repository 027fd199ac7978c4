"""A real standalone Spark cluster on loopback: a master and two workers from pyspark's own jars.

A search over Parquet (``data.distributed``) runs against ``spark://127.0.0.1:PORT`` through the
command line with a driver of 512 MB, and a fold survives a Python worker killed mid-epoch (the
driver runs the epoch again). The drivers run in subprocesses: this test process already holds
the shared local[2] session, and a process holds one Spark master.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyspark
import pytest
import yaml

from automl.testing import tiny_table

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Spark's processes through /proc"),
]

SPARK_HOME = Path(pyspark.__file__).parent
LOOPBACK = {"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_HOME": str(SPARK_HOME)}
# What a cluster's executors need to run this environment's Python, on loopback only.
CONF = {
    "spark.pyspark.python": sys.executable,
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.executor.memory": "768m",
    "spark.ui.enabled": "false",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _spark_class(cls: str, *args: str, log: Path) -> subprocess.Popen:
    """Start one of Spark's daemons in its own session (its group is stopped at teardown)."""
    return subprocess.Popen(
        [str(SPARK_HOME / "bin" / "spark-class"), cls, *args],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **LOOPBACK},
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[int]]]:
    """A master and two 1-core workers; yields the master URL and the daemons' session ids."""
    folder = tmp_path_factory.mktemp("cluster")
    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    master_log = folder / "master.log"
    daemons = [
        _spark_class(
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(port), "--webui-port", str(_free_port())),
            log=master_log,
        )
    ]
    try:
        for index in range(2):
            daemons.append(
                _spark_class(
                    "org.apache.spark.deploy.worker.Worker",
                    url,
                    *("--host", "127.0.0.1", "--cores", "1", "--memory", "1g"),
                    *("--webui-port", str(_free_port()), "--work-dir", str(folder / f"w{index}")),
                    log=folder / f"worker{index}.log",
                )
            )
        deadline = time.monotonic() + 120
        while master_log.read_text().count("Registering worker") < 2:
            assert time.monotonic() < deadline, master_log.read_text()[-2000:]
            assert all(d.poll() is None for d in daemons), "a Spark daemon exited"
            time.sleep(0.5)
        yield url, [d.pid for d in daemons]
    finally:
        for daemon in daemons:
            os.killpg(daemon.pid, 15)
        for daemon in daemons:
            daemon.wait(timeout=60)


def test_a_search_over_parquet_on_a_standalone_cluster_with_a_small_driver(
    cluster: tuple[str, list[int]], spark: Any, tmp_path: Path, run_python: Any
) -> None:
    """``automl search`` (``data.distributed``) on Parquet the executors wrote, with a driver of
    512 MB; the bundle then predicts in a process with no Spark at all."""
    from pyspark.sql import functions as F

    url, _ = cluster
    label = (F.col("id") % 3).cast("int")
    spark.range(3000, numPartitions=2).select(
        "id",
        (label + F.randn(seed=1) * 0.4).alias("a"),
        (-label + F.randn(seed=2) * 0.4).alias("b"),
        F.concat(F.lit("c"), label.cast("string")).alias("label"),
    ).write.parquet(str(tmp_path / "table.parquet"))
    recipe = {
        "name": "cluster",
        "data": {"train": "table.parquet", "target": "label", "id": "id", "distributed": True},
        "search": {"trials": 2, "folds": 2, "pruner": "none"},
        "space": {"hidden_units": [8], "learning_rate": {"low": 0.01, "high": 0.05}},
        "training": {"max_epochs": 2},
        "backend": {
            "name": "spark-sync",
            "options": {"master": url, "conf": {**CONF, "spark.driver.memory": "512m"}},
        },
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    run_python(["-m", "automl", "search", "recipe.yaml"], tmp_path, env=LOOPBACK)
    run = tmp_path / "runs" / "cluster"
    assert (run / "leaderboard.csv").read_text().count("complete") == 2
    assert json.loads((run / "run.json").read_text())["holdout"]["accuracy"] > 0.8
    tiny_table(rows=9).drop(columns="label").to_csv(tmp_path / "new.csv", index=False)
    best = str(run / "best")
    run_python(["-m", "automl", "predict", best, "new.csv", "-o", "p.csv"], tmp_path)
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 10


KILL_A_WORKER = """
import json, os, signal, sys, threading, time, warnings
from pathlib import Path
from typing import Any
from automl.training import TrainSettings
from automl.testing import SPEC, tiny_fold
from automl_spark import SparkSyncBackend
from pyspark import SparkContext

master, conf, sessions = sys.argv[1], json.loads(sys.argv[2]), set(json.loads(sys.argv[3]))
killed, errors = [], []

def ticks(pid):
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return -1
    return int(fields[11]) + int(fields[12])

def training_workers():
    # pyspark's Python workers that the cluster's daemons (our sessions) started and that have
    # loaded TensorFlow: only an epoch's task does (the caching jobs before it do not)
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"pyspark" in (entry / "cmdline").read_bytes():
                if os.getsid(int(entry.name)) in sessions:
                    if "tensorflow" in (entry / "maps").read_text():
                        found.append(int(entry.name))
        except OSError:
            continue
    return found

def epoch_running():
    # an epoch's barrier stage with both its tasks started (between epochs no stage is active)
    context = SparkContext._active_spark_context
    if context is None or getattr(context, "_jsc", None) is None:
        return False
    tracker = context.statusTracker()
    stages = [tracker.getStageInfo(stage) for stage in tracker.getActiveStageIds()]
    return any(stage is not None and stage.numActiveTasks == 2 for stage in stages)

def kill_a_training_worker():
    while not killed and not done.is_set():
        before = {pid: ticks(pid) for pid in training_workers()}
        time.sleep(0.2)
        # running, not waiting to be handed a task: a worker in the middle of an epoch
        busy = [pid for pid in before if before[pid] < ticks(pid)]
        try:
            if busy and epoch_running():
                os.kill(busy[-1], signal.SIGKILL)
                killed.append(busy[-1])
        except ProcessLookupError:  # it ended between the look and the kill: look again
            continue
        except Exception as exc:  # the last one is reported beside the outcome; look again
            errors[:] = [repr(exc)]

done = threading.Event()
killer = threading.Thread(target=kill_a_training_worker, daemon=True)
killer.start()
backend = SparkSyncBackend(master=master, conf=conf, partitions=2, threads_per_worker=1)
# rounds long enough (20,000 rows a partition) that the kill lands inside a running task
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    result = backend.evaluate(SPEC, tiny_fold(rows=60000), TrainSettings(max_epochs=3, patience=3))
done.set()
backend.close()
reruns = [str(w.message) for w in caught if "running the epoch again" in str(w.message)]
print(json.dumps({"killed": killed, "errors": errors, "epochs": result.epochs_run, "reruns": reruns,
                  "val_loss": result.history["val_loss"]}))
"""


def test_a_python_worker_killed_mid_epoch_reruns_the_epoch_and_the_fold_completes(
    cluster: tuple[str, list[int]], tmp_path: Path, run_python: Any
) -> None:
    url, sessions = cluster
    arguments = ["-c", KILL_A_WORKER, url, json.dumps(CONF), json.dumps(sessions)]
    done = run_python(arguments, tmp_path, limit=420, env=LOOPBACK)
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["killed"], f"no busy Python worker was found to kill: {outcome}"
    # a barrier stage is not retried by Spark: the driver ran the epoch again, and said so
    assert len(outcome["reruns"]) == 1, outcome
    assert re.match(r"spark-sync: a task failed in epoch [123];", outcome["reruns"][0]), outcome
    assert outcome["epochs"] == 3 and all(v == v for v in outcome["val_loss"])
