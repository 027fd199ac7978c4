"""The Spark backends against the local backend and Elephas on Otto, side by side in one run.

The lecture's 512x3 dropout network (recipes/otto-lecture-dropout.yaml: relu, dropout 0.5, adam
1e-3, batch 128) trains on the same stratified 80/20 Otto split for exactly ``--epochs`` epochs
with each variant:

  local              Keras ``model.fit`` in this process (automl's local backend);
  spark-sync         automl spark-sync, one averaging per epoch;
  spark-sync-rounds  automl spark-sync, averaging every ``--batches-per-round`` batches;
  spark-async        automl spark-async (a parameter server in task 0, 20 batches a push);
  *-parquet          spark-sync and spark-async on the same fold read by Spark from Parquet
                     (a ``data.distributed`` table's path: the rows never pass through the
                     driver, and the validation log-loss comes from the tasks' counts);
  elephas-*          Elephas 7.3 sync, async per epoch and async per batch, run by the
                     bench-only environment ``--elephas-python`` (bench/_elephas.py), when it
                     exists.

Every Spark variant runs on local[2] with 2 partitions (two Python workers, one TensorFlow
thread each); automl's Spark variants cache the fold's rows on the executors once, then train
one barrier job per epoch from them. Each Spark variant first trains a tiny fold, so that the
workers' TensorFlow import is not timed. The variants run ``--repeats`` times, interleaved
(each round in the opposite order to the one before), and the table reports medians: training
samples per second (rows x epochs over the fold's wall time, validation included, as the
backends report it), the validation log-loss of the kept (best) epoch, and both as ratios to
local.

    .venv/bin/python bench/spark.py [--rows 20000] [--epochs 10] [--repeats 3] [--data PATH]
        [--elephas-python .venv-elephas/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

import numpy as np
from otto_split import DEFAULT_DATA, subsample_rows
from overhead import load_fold
from sklearn.metrics import log_loss

from automl.keras import LocalBackend
from automl.spec import ModelSpec
from automl.testing import tiny_fold
from automl.training import Backend, FoldData, TrainSettings
from automl_spark.asynchronous import SparkAsyncBackend
from automl_spark.frames import frame_from_arrays
from automl_spark.session import SessionOptions, spark_session
from automl_spark.synchronous import SparkSyncBackend

SPEC = ModelSpec(hidden_units=(512, 512, 512), dropout=0.5, batch_size=128)
MASTER = "local[2]"
ELEPHAS_MODES = ("sync", "async-epoch", "async-batch")
DEFAULT_ELEPHAS = Path(__file__).resolve().parent.parent / ".venv-elephas" / "bin" / "python"

Measure = Callable[[], dict[str, float]]


def backends(batches_per_round: int) -> dict[str, Backend]:
    """automl's backends to compare."""
    return {
        "local": LocalBackend(),
        "spark-sync": SparkSyncBackend(master=MASTER, partitions=2),
        "spark-sync-rounds": SparkSyncBackend(
            master=MASTER, partitions=2, batches_per_round=batches_per_round
        ),
        "spark-async": SparkAsyncBackend(master=MASTER, partitions=2),
    }


def elephas(python: Path, mode: str, data: Path, rows: int | None, epochs: int) -> Measure:
    """A measure of Elephas in ``mode``, run by the bench-only environment's ``python``."""
    command = [str(python), str(Path(__file__).with_name("_elephas.py")), "--mode", mode]
    command += ["--epochs", str(epochs), "--data", str(data)]
    command += [] if rows is None else ["--rows", str(rows)]

    def run() -> dict[str, float]:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"Elephas {mode} failed: {done.stderr[-2000:]}")
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    return run


def parquet_fold(session: Any, data: FoldData, folder: Path) -> Any:
    """The fold as a Parquet table (training rows in fold 1, validation rows in fold 0), written
    by Spark once and read back: from here the driver never holds its rows."""
    x = np.concatenate([data.x_train, data.x_valid])
    y = np.concatenate([data.y_train, data.y_valid])
    folds = np.concatenate([np.ones(len(data.y_train)), np.zeros(len(data.y_valid))]).astype(int)
    written = frame_from_arrays(session, x, y, None, folds, 2, seed=0, shuffle=True)
    written.write.mode("overwrite").parquet(str(folder))
    written.unpersist()
    return session.read.parquet(str(folder))


def measure_table(
    backend: SparkSyncBackend, table: Any, data: FoldData, epochs: int
) -> dict[str, float]:
    """:func:`measure` for the fold read from Parquet; the log-loss of the tasks' counts."""
    settings = TrainSettings(max_epochs=epochs, patience=epochs)
    result, counts = backend.evaluate_frame(SPEC, table, data.n_classes, settings, 0, False, None)
    return {
        "samples_s": len(data.x_train) * result.epochs_run / result.seconds,
        "log_loss": counts.scores("log_loss")["log_loss"],
        "seconds": result.seconds,
    }


def subsample(data: FoldData, rows: int | None) -> FoldData:
    """The first ``rows`` training rows of a fixed shuffle (all rows when ``None``)."""
    keep = subsample_rows(len(data.x_train), rows)
    return FoldData(
        data.x_train[keep], data.y_train[keep], data.x_valid, data.y_valid, data.n_classes
    )


def measure(backend: Backend, data: FoldData, epochs: int) -> dict[str, float]:
    """Train one fold for exactly ``epochs`` epochs; throughput and kept-epoch log-loss."""
    settings = TrainSettings(max_epochs=epochs, patience=epochs)
    result = backend.evaluate(SPEC, data, settings)
    return {
        "samples_s": len(data.x_train) * result.epochs_run / result.seconds,
        "log_loss": log_loss(data.y_valid, result.valid_proba, labels=range(data.n_classes)),
        "seconds": result.seconds,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=None, help="training rows (default: all)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches-per-round", type=int, default=50)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--elephas-python", type=Path, default=DEFAULT_ELEPHAS)
    args = parser.parse_args(argv)
    if not args.data.is_file():
        sys.exit(f"no Otto data at {args.data}")
    data = subsample(load_fold(args.data), args.rows)
    session, _ = spark_session(SessionOptions(MASTER))
    measures: dict[str, Measure] = {}
    chosen = backends(args.batches_per_round)
    for name, backend in chosen.items():
        if name != "local":  # warm the Python workers: TensorFlow imported, not timed
            backend.evaluate(SPEC, tiny_fold(), TrainSettings(max_epochs=1))
        measures[name] = lambda b=backend: measure(b, data, args.epochs)
    scratch = Path(tempfile.mkdtemp(prefix="automl-bench-spark-"))
    table = parquet_fold(session, data, scratch / "fold.parquet")
    for name in ("spark-sync", "spark-async"):
        backend = chosen[name]
        assert isinstance(backend, SparkSyncBackend)  # spark-async is one too
        measures[f"{name}-parquet"] = lambda b=backend: measure_table(b, table, data, args.epochs)
    if args.elephas_python.is_file():
        for mode in ELEPHAS_MODES:
            measures[f"elephas-{mode}"] = elephas(
                args.elephas_python, mode, args.data, args.rows, args.epochs
            )
    results: dict[str, list[dict[str, float]]] = {name: [] for name in measures}
    try:
        for repeat in range(args.repeats):
            order = list(measures) if repeat % 2 == 0 else list(reversed(measures))
            for name in order:
                results[name].append(measures[name]())
                print(f"# round {repeat + 1} {name}: {results[name][-1]}", flush=True)
    finally:
        for backend in chosen.values():
            backend.close()
        session.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    medians = {
        name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for name, runs in results.items()
    }
    report(medians, len(data.x_train), args.epochs, args.repeats)


def report(results: dict[str, Any], rows: int, epochs: int, repeats: int) -> None:
    """One line per variant (medians over the repeats), with ratios to local, then the goals'
    ratios against Elephas when it ran."""
    base = results["local"]
    print(f"Otto, {rows} training rows, {epochs} epochs, 512x3 dropout 0.5, batch 128, {MASTER}")
    print(f"medians of {repeats} interleaved runs")
    header = f"{'variant':<20} {'samples/s':>10} {'x local':>8} {'val log-loss':>13} {'- local':>8}"
    print(header)
    for name, r in results.items():
        speed, loss = r["samples_s"] / base["samples_s"], r["log_loss"] - base["log_loss"]
        print(f"{name:<20} {r['samples_s']:>10.0f} {speed:>8.2f} ", end="")
        print(f"{r['log_loss']:>13.4f} {loss:>+8.4f}")
    pairs = [("spark-sync", "elephas-sync"), ("spark-async", "elephas-async-batch")]
    for ours, theirs in pairs:
        if ours in results and theirs in results:
            ratio = results[ours]["samples_s"] / results[theirs]["samples_s"]
            print(f"{ours} / {theirs} samples/s: {ratio:.2f}")


if __name__ == "__main__":
    main()
