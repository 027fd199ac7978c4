"""The driver never holds the rows: two million rows made on the executors, trained where they are.

In a subprocess with its own local[2] session and ``spark.driver.maxResultSize`` of 4 MB (a
collect of the rows would fail), a table the executors generate (``spark.range`` and ``rand``
columns, labelled by a rule a network learns) is trained for 2 epochs with spark-sync twice:
by the pyspark.ml Estimator (a fixed network), and by a recipe's search (``data.distributed``,
one trial of two folds and the final model) over the same rows written to Parquet by the
executors. Each time the driver's peak resident memory (``VmHWM``, reset through
``/proc/self/clear_refs`` first) must grow by less than 64 MB: the table itself is 2,000,000 x
16 float32 = 128 MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path("/proc/self/clear_refs").exists(), reason="resets the peak RSS through /proc"
    ),
]

FIT_ON_THE_EXECUTORS = """
import json, sys
from pathlib import Path
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F
import automl
from automl_spark.ml import AutoMLEstimator
from automl_spark.testing import FEATURES, generated_table
from automl_spark.session import SessionOptions, spark_session

def status(field):
    lines = Path("/proc/self/status").read_text().splitlines()
    line = next(text for text in lines if text.startswith(field))
    return int(line.split()[1]) * 1024

def measured(work):
    Path("/proc/self/clear_refs").write_text("5")  # the peak RSS starts again from the current RSS
    start = status("VmRSS:")
    done = work()
    return done, status("VmHWM:") - start

spark, _ = spark_session(SessionOptions("local[2]", {"spark.driver.maxResultSize": "4m"}))
rows, folder = int(sys.argv[1]), Path(sys.argv[2])
spec = {"hidden_units": [32], "learning_rate": 0.03, "batch_size": 4096}
estimator = AutoMLEstimator(spec=spec, epochs=2, backend="spark-sync")
estimator.fit(generated_table(spark, 4000))  # warm-up: TensorFlow, Keras and every code path
model, estimator_grown = measured(lambda: estimator.fit(generated_table(spark, rows)))
scored = model.transform(generated_table(spark, rows).limit(20000))
accuracy = scored.agg(F.avg((F.col("prediction") == F.col("label")).cast("double"))).first()[0]

def search(count):
    values = vector_to_array(F.col("features"))
    table = generated_table(spark, count).select(
        *[values[i].alias(f"x{i}") for i in range(FEATURES)], F.col("label").cast("int").alias("y")
    )
    path = str(folder / f"table-{count}.parquet")
    table.write.parquet(path)
    recipe = {
        "name": "scale",
        "data": {"train": path, "target": "y", "distributed": True, "holdout": 0.01},
        "search": {"trials": 1, "folds": 2, "pruner": "none"},
        "space": {"hidden_units": [32], "learning_rate": 0.03, "batch_size": 4096},
        "training": {"max_epochs": 2},
        "backend": {"name": "spark-sync"},
        "output": str(folder / f"run-{count}"),
    }
    return lambda: automl.search(recipe)

search(4000)()  # warm-up: the search's own modules (Optuna, the report) and code paths
result, recipe_grown = measured(search(rows))
print(json.dumps({"estimator": {"grown": estimator_grown, "accuracy": accuracy},
                  "recipe": {"grown": recipe_grown, "accuracy": result.holdout["accuracy"]}}))
"""


def test_two_million_rows_train_where_they_are_and_the_driver_does_not_grow(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FIT_ON_THE_EXECUTORS, "2000000", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    for way in ("estimator", "recipe"):
        assert outcome[way]["accuracy"] > 0.9, outcome
        assert outcome[way]["grown"] < 64 * 2**20, outcome
