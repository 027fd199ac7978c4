"""Spark Connect: a real Connect server on loopback, and a client process with no SparkContext.

The server is pyspark's own (``SparkConnectServer`` from the jars the pip package ships), on
``local[2]``, started by :func:`automl_spark.connect.local_connect_server`. The client runs in a
subprocess, because this test process already holds the shared classic session and pyspark
switches a whole process to Connect. It runs spark-sync and spark-async folds, a 2-trial search
from the command line with spark-sync on a CSV and with spark-async on Parquet kept on the
server (``data.distributed``), and the pyspark.ml Estimator with save and load, all through
``sc://127.0.0.1:PORT``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from automl.testing import tiny_table
from automl_spark.connect import local_connect_server

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server on local[2], listening on loopback; yields its ``sc://`` URL."""
    pytest.importorskip("grpc", reason="the Spark Connect client needs pyspark[connect]")
    log = tmp_path_factory.mktemp("connect") / "server.log"
    with local_connect_server(log) as url:
        yield url


CLIENT = """
import json, sys, warnings
import numpy as np
from pyspark.sql import SparkSession, functions as F
from pyspark.ml.functions import array_to_vector
from automl.testing import SPEC, tiny_fold, tiny_table
from automl.training import TrainSettings
from automl_spark import SparkAsyncBackend, SparkSyncBackend
from automl_spark.ml import AutoMLEstimator, AutoMLModel

url, folder = sys.argv[1], sys.argv[2]
out = {}
for name, make in [("sync", SparkSyncBackend), ("async", SparkAsyncBackend)]:
    backend = make(master=url, threads_per_worker=1)
    result = backend.evaluate(SPEC, tiny_fold(), TrainSettings(max_epochs=3, patience=3))
    out[name] = result.history["val_loss"]
spark = SparkSession.builder.remote(url).getOrCreate()
table = tiny_table(rows=120)
frame = spark.createDataFrame(table[["id", "a", "b", "label"]]).select(
    "id", array_to_vector(F.array("a", "b")).alias("features"), F.col("label").cast("double")
)
estimator = AutoMLEstimator(spec={"hidden_units": [8], "learning_rate": 0.05, "batch_size": 16},
                            epochs=8, backend="spark-sync", backendOptions={"master": url})
model = estimator.fit(frame)
before = {r["id"]: r["probability"].toArray() for r in model.transform(frame).collect()}
model.write().overwrite().save(folder + "/model")
again = AutoMLModel.load(folder + "/model")
after = {r["id"]: r["probability"].toArray() for r in again.transform(frame).collect()}
out["same_after_loading"] = all(np.allclose(before[k], after[k]) for k in before)
out["accuracy"] = float(np.mean([before[r["id"]].argmax() == r["label"] for r in frame.collect()]))
from pyspark import SparkContext
out["spark_context"] = SparkContext._active_spark_context is not None
print(json.dumps(out))
"""


def test_folds_and_the_estimator_run_over_spark_connect_without_a_spark_context(
    connect_url: str, tmp_path: Path, run_python: Any
) -> None:
    done = run_python(["-c", CLIENT, connect_url, str(tmp_path)], tmp_path)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    for name in ("sync", "async"):
        assert len(out[name]) == 3 and out[name][-1] < out[name][0], out
    assert out["same_after_loading"] and out["accuracy"] > 0.8
    assert out["spark_context"] is False  # the client is a Connect client only
    assert (tmp_path / "model" / "bundle.parquet").is_dir()


def test_a_search_over_spark_connect_from_the_command_line(
    connect_url: str, tmp_path: Path, two_trial_search: Any
) -> None:
    run = two_trial_search(tmp_path, "spark-sync", {"master": connect_url})
    assert (run / "leaderboard.csv").read_text().count("complete") == 2


def test_a_search_over_parquet_with_spark_async_over_spark_connect(
    connect_url: str, spark: Any, tmp_path: Path, run_python: Any
) -> None:
    """``data.distributed`` through a Connect client: the server reads the Parquet, its tasks
    train and score, and the bundle predicts without Spark."""
    tiny = tiny_table(rows=300)
    spark.createDataFrame(tiny).write.parquet(str(tmp_path / "table.parquet"))
    recipe = {
        "name": "connect",
        "data": {"train": "table.parquet", "target": "label", "id": "id", "distributed": True},
        "search": {"trials": 2, "folds": 2, "pruner": "none"},
        "space": {"hidden_units": [8], "learning_rate": 0.05, "batch_size": 16},
        "training": {"max_epochs": 3},
        "backend": {"name": "spark-async", "options": {"master": connect_url}},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    run_python(["-m", "automl", "search", "recipe.yaml"], tmp_path)
    run = tmp_path / "runs" / "connect"
    assert (run / "leaderboard.csv").read_text().count("complete") == 2
    assert json.loads((run / "run.json").read_text())["holdout"]["accuracy"] > 0.7
