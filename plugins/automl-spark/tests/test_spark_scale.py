"""The driver never holds the rows: two million rows made on the executors, trained where they are.

In a subprocess with its own local[2] session and ``spark.driver.maxResultSize`` of 4 MB (a
collect of the rows would fail), the pyspark.ml Estimator trains a fixed network for 2 epochs
with spark-sync on a table the executors generate (``spark.range`` and ``rand`` columns,
labelled by a rule a network learns). The driver's peak resident memory (``VmHWM``, reset
through ``/proc/self/clear_refs`` after a warm-up fit on a small table) must grow by less than
64 MB: the table itself is 2,000,000 x 16 float32 = 128 MB.
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
from pyspark.sql import functions as F
from automl_spark.ml import AutoMLEstimator
from automl_spark.testing import generated_table
from automl_spark.session import SessionOptions, spark_session

def status(field):
    lines = Path("/proc/self/status").read_text().splitlines()
    line = next(text for text in lines if text.startswith(field))
    return int(line.split()[1]) * 1024

spark, _ = spark_session(SessionOptions("local[2]", {"spark.driver.maxResultSize": "4m"}))
def table(count):
    return generated_table(spark, count)

spec = {"hidden_units": [32], "learning_rate": 0.01, "batch_size": 512}
estimator = AutoMLEstimator(spec=spec, epochs=2, backend="spark-sync")
estimator.fit(table(4000))  # warm-up: TensorFlow, Keras and every code path, on a small table
Path("/proc/self/clear_refs").write_text("5")  # the peak RSS starts again from the current RSS
start = status("VmRSS:")
rows = int(sys.argv[1])
model = estimator.fit(table(rows))
grown = status("VmHWM:") - start
scored = model.transform(table(rows).limit(20000))
accuracy = scored.agg(F.avg((F.col("prediction") == F.col("label")).cast("double"))).first()[0]
print(json.dumps({"grown": grown, "accuracy": accuracy}))
"""


def test_two_million_rows_train_where_they_are_and_the_driver_does_not_grow() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FIT_ON_THE_EXECUTORS, "2000000"],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["accuracy"] > 0.9, outcome
    assert outcome["grown"] < 64 * 2**20, outcome
