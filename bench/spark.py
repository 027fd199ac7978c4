"""The Spark backends against the local backend on Otto, side by side in one run.

The lecture's 512x3 dropout network (recipes/otto-lecture-dropout.yaml: relu, dropout 0.5, adam
1e-3, batch 128) trains on the same stratified 80/20 Otto split for exactly ``--epochs`` epochs
with each backend: ``local`` (Keras ``model.fit`` in this process), ``spark-sync`` and
``spark-async`` on a local[2] SparkSession with 2 partitions (two Python workers, one
TensorFlow thread each). Each Spark backend first trains a tiny fold, so that the workers'
TensorFlow import is not timed. Reported: training samples per second (rows x epochs over the
fold's wall time, validation included, as the backends report it), the validation log-loss of
the kept (best) epoch, and both as ratios to local.

    .venv/bin/python bench/spark.py [--rows 20000] [--epochs 3] [--data PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

import numpy as np
from overhead import DEFAULT_DATA, load_fold
from sklearn.metrics import log_loss

from automl.keras import LocalBackend
from automl.spec import ModelSpec
from automl.testing import tiny_fold
from automl.training import Backend, FoldData, TrainSettings
from automl_spark.session import SessionOptions, spark_session
from automl_spark.synchronous import SparkSyncBackend

SPEC = ModelSpec(hidden_units=(512, 512, 512), dropout=0.5, batch_size=128)
MASTER = "local[2]"


def backends() -> dict[str, Backend]:
    """The backends to compare; spark-async when this install has it."""
    chosen: dict[str, Backend] = {
        "local": LocalBackend(),
        "spark-sync": SparkSyncBackend(master=MASTER, partitions=2),
    }
    try:
        from automl_spark.asynchronous import SparkAsyncBackend
    except ImportError:
        return chosen
    chosen["spark-async"] = SparkAsyncBackend(master=MASTER, partitions=2)
    return chosen


def subsample(data: FoldData, rows: int | None) -> FoldData:
    """The first ``rows`` training rows of a fixed shuffle (all rows when ``None``)."""
    if rows is None or rows >= len(data.x_train):
        return data
    keep = np.random.default_rng(0).permutation(len(data.x_train))[:rows]
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
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    if not args.data.is_file():
        sys.exit(f"no Otto data at {args.data}")
    data = subsample(load_fold(args.data), args.rows)
    session, _ = spark_session(SessionOptions(MASTER))
    results: dict[str, dict[str, float]] = {}
    try:
        for name, backend in backends().items():
            if name != "local":  # warm the Python workers: TensorFlow imported, not timed
                backend.evaluate(SPEC, tiny_fold(), TrainSettings(max_epochs=1))
            results[name] = measure(backend, data, args.epochs)
            backend.close()
    finally:
        session.stop()
    report(results, len(data.x_train), args.epochs)


def report(results: dict[str, Any], rows: int, epochs: int) -> None:
    """One line per backend, with ratios to local."""
    base = results["local"]
    print(f"Otto, {rows} training rows, {epochs} epochs, 512x3 dropout 0.5, batch 128, {MASTER}")
    print(f"{'backend':<12} {'samples/s':>10} {'x local':>8} {'val log-loss':>13} {'x local':>8}")
    for name, r in results.items():
        speed, loss = r["samples_s"] / base["samples_s"], r["log_loss"] / base["log_loss"]
        print(f"{name:<12} {r['samples_s']:>10.0f} {speed:>8.2f} ", end="")
        print(f"{r['log_loss']:>13.4f} {loss:>8.2f}")


if __name__ == "__main__":
    main()
