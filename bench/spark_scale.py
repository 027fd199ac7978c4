"""Training where the rows are: millions of rows made on the executors, on classic Spark and over
Spark Connect, and what the driver pays for them.

For each row count (``--rows``, millions) and each way of reaching Spark (classic ``local[2]``
in the driver's process; a Spark Connect server on ``local[2]`` started on loopback), a fresh
driver process generates a table of 16 ``rand`` features on the executors (``spark.range``,
labelled by a rule a network learns), and the pyspark.ml Estimator trains a 32-unit network on
it with spark-sync for ``--epochs`` epochs (a warm-up fit on 4,000 rows first, untimed). The
driver reports:

  samples/s       rows x epochs over the fit's wall time (statistics, caching and training);
  driver RSS      growth of the driver process's peak resident memory during the fit (VmHWM,
                  reset through /proc/self/clear_refs after the warm-up);
  collected       what the fit's jobs returned to the driver (every ``DataFrame.collect``,
                  which ``first`` goes through too, counted as the pickled size of its rows:
                  the class list, the statistics, each epoch's metric sums and state);
  accuracy        of the fitted model on 20,000 of the rows, computed on the executors.

    .venv/bin/python bench/spark_scale.py [--rows 1 2 5] [--epochs 1] [--modes classic connect]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from automl_spark.connect import local_connect_server

DRIVER = """
import json, pickle, sys, time
from pathlib import Path
from pyspark.sql.classic.dataframe import DataFrame as ClassicFrame
from pyspark.sql.connect.dataframe import DataFrame as ConnectFrame
from pyspark.sql import SparkSession, functions as F
from automl_spark.ml import AutoMLEstimator
from automl_spark.testing import generated_table
from automl_spark.session import SessionOptions, spark_session

master, rows, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def status(field):
    lines = Path("/proc/self/status").read_text().splitlines()
    return int(next(t for t in lines if t.startswith(field)).split()[1]) * 1024

collected = [0]

def counting(collect):
    def wrapper(self, *args, **kwargs):
        rows = collect(self, *args, **kwargs)
        collected[0] += len(pickle.dumps(rows))
        return rows
    return wrapper

ClassicFrame.collect = counting(ClassicFrame.collect)
ConnectFrame.collect = counting(ConnectFrame.collect)

spark, _ = spark_session(SessionOptions(master, {} if master.startswith("sc://") else
                                         {"spark.driver.maxResultSize": "4m"}))
def table(count):
    return generated_table(spark, count)

spec = {"hidden_units": [32], "learning_rate": 0.01, "batch_size": 512}
estimator = AutoMLEstimator(spec=spec, epochs=epochs, backend="spark-sync",
                            backendOptions={"master": master})
estimator.fit(table(4000))
Path("/proc/self/clear_refs").write_text("5")
collected[0] = 0
start_rss, started = status("VmRSS:"), time.perf_counter()
model = estimator.fit(table(rows))
seconds = time.perf_counter() - started
grown, read = status("VmHWM:") - start_rss, collected[0]
scored = model.transform(table(rows).limit(20000))
accuracy = scored.agg(F.avg((F.col("prediction") == F.col("label")).cast("double"))).first()[0]
print(json.dumps({"samples_s": rows * epochs / seconds, "seconds": seconds, "rss_mb": grown / 2**20,
                  "collected_kb": read / 2**10, "accuracy": accuracy}))
"""


def run_driver(master: str, rows: int, epochs: int) -> dict[str, float]:
    """One fit in a fresh driver process; its figures."""
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, master, str(rows), str(epochs)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=float, nargs="+", default=[1, 2, 5], help="millions")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--modes", nargs="+", default=["classic", "connect"])
    args = parser.parse_args(argv)
    counts = [int(millions * 1_000_000) for millions in args.rows]
    print(f"spark-sync, 16 features, 32 units, batch 512, {args.epochs} epoch(s), local[2]")
    print(
        f"{'mode':<8} {'rows':>10} {'samples/s':>10} {'driver RSS MB':>14} {'collected KB':>13} "
        f"{'accuracy':>9} {'seconds':>8}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        for mode in args.modes:
            if mode == "connect":
                with local_connect_server(Path(scratch) / "connect.log") as url:
                    figures = [run_driver(url, rows, args.epochs) for rows in counts]
            else:
                figures = [run_driver("local[2]", rows, args.epochs) for rows in counts]
            for rows, f in zip(counts, figures, strict=True):
                print(
                    f"{mode:<8} {rows:>10} {f['samples_s']:>10.0f} {f['rss_mb']:>14.1f} "
                    f"{f['collected_kb']:>13.1f} {f['accuracy']:>9.3f} {f['seconds']:>8.1f}"
                )


if __name__ == "__main__":
    main()
