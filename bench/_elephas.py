"""Elephas 7.3 (Keras on Spark) on Otto, as a reference point for bench/spark.py.

Elephas pins old packages (pyspark<=4.0.0, tensorflow<2.20, numpy<2), so it cannot share this
product's virtual environment; this script runs in a bench-only one and imports nothing from
``automl``:

    python3 -m venv .venv-elephas
    .venv-elephas/bin/pip install -r bench/requirements-elephas.txt
    .venv-elephas/bin/python bench/_elephas.py --mode sync|async-epoch|async-batch
        [--rows N] [--epochs 5] [--data PATH]

It trains what bench/spark.py trains, on the same data: the lecture's 512x3 network (relu,
dropout 0.5, softmax over 9 classes, adam 1e-3, batch 128) on the stratified 80/20 Otto split
(bench/otto_split.py, which needs no automl), on the first ``--rows`` training rows of the same
fixed shuffle as bench/spark.py, on a local[2] SparkSession with 2 partitions
and one TensorFlow thread per Python worker on 2 cores (as the product's Spark backends). Modes:

  sync         ``SparkModel``: per epoch every worker fits its partition from the broadcast
               weights, and the driver averages the workers' weight changes.
  async-epoch  ``AsynchronousSparkModel`` (mode asynchronous, frequency epoch): workers pull the
               weights from, and push their changes to, Elephas's HTTP parameter server (Flask,
               in a forked process on a free loopback port) once per epoch.
  async-batch  the same, once per batch.

An untimed warm-up fit on 512 rows first imports TensorFlow in the Python workers; then the fit
is timed (wall clock around ``fit``; Elephas validates nothing during it), and the trained
model's predictions of the validation rows give the log-loss. Elephas's own output goes to
stderr; stdout carries one line of JSON, ``{"samples_s": rows * epochs / seconds, "log_loss":
..., "seconds": ...}``, which is what bench/spark.py reads when it runs this script with the
venv's python as a subprocess.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"  # Spark's and Elephas's parameter server's address
os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers run this venv's python

import numpy as np
from otto_split import DEFAULT_DATA, otto_split, subsample_rows
from sklearn.metrics import log_loss

MASTER = "local[2]"
PARTITIONS = 2
BATCH = 128
HIDDEN = (512, 512, 512)
DROPOUT = 0.5
LEARNING_RATE = 1e-3
WARMUP_ROWS = 4 * BATCH  # Elephas's workers skip a partition of no more than one batch
INFERENCE_BATCH = 4096
MODES = ("sync", "async-epoch", "async-batch")


def build_model(n_features: int, n_classes: int) -> Any:
    """The lecture's network, compiled as ``automl.keras.build_model`` compiles it."""
    import keras

    inputs = keras.Input(shape=(n_features,), name="features")
    x = inputs
    for units in HIDDEN:
        x = keras.layers.Dense(units, kernel_initializer="glorot_uniform")(x)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.Dropout(DROPOUT)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def free_port() -> int:
    """A loopback port nothing listens on, for Elephas's parameter server (default 4000)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def spark_model(mode: str, model: Any) -> Any:
    """The Elephas model for ``mode``; the async ones start their parameter server in ``fit``."""
    from elephas.spark_model import AsynchronousSparkModel, SparkModel

    if mode == "sync":
        return SparkModel(model, batch_size=BATCH)
    frequency = mode.removeprefix("async-")
    return AsynchronousSparkModel(
        model, batch_size=BATCH, mode="asynchronous", frequency=frequency, port=free_port()
    )


def fit(
    mode: str, context: Any, x: np.ndarray, y: np.ndarray, n_classes: int, epochs: int
) -> tuple[Any, float]:
    """Train a fresh network on ``x, y`` with Elephas; the trained Keras model and the seconds
    that ``fit`` took (the RDD of (row, label) pairs is made before the clock starts)."""
    from elephas.utils.rdd_utils import to_simple_rdd

    model = build_model(x.shape[1], n_classes)
    elephas_model = spark_model(mode, model)
    rdd = to_simple_rdd(context, x, y)  # default parallelism: 2 partitions on local[2]
    assert rdd.getNumPartitions() == PARTITIONS, rdd.getNumPartitions()
    start = time.perf_counter()
    elephas_model.fit(rdd, epochs=epochs, batch_size=BATCH, verbose=0)
    return elephas_model.master_network, time.perf_counter() - start


def spark_session() -> Any:
    """local[2] on loopback, quiet, one TensorFlow thread per Python worker (2 cores, 2 tasks)."""
    from pyspark.sql import SparkSession

    threads = str(max(1, (os.cpu_count() or 1) // PARTITIONS))
    conf = {
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": "ERROR",
        "spark.python.worker.reuse": "true",
        "spark.executorEnv.TF_CPP_MIN_LOG_LEVEL": "3",
        "spark.executorEnv.TF_NUM_INTRAOP_THREADS": threads,
        "spark.executorEnv.TF_NUM_INTEROP_THREADS": "1",
    }
    builder = SparkSession.builder.master(MASTER).appName("elephas-bench")
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=MODES, default="sync")
    parser.add_argument("--rows", type=int, default=None, help="training rows (default: all)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    if not args.data.is_file():
        sys.exit(f"no Otto data at {args.data}")
    x_train, y_train, x_valid, y_valid, n_classes = otto_split(args.data)
    kept = subsample_rows(len(x_train), args.rows)
    x_train, y_train = x_train[kept], y_train[kept]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the parameter server's request log

    import keras

    session = spark_session()
    try:
        with contextlib.redirect_stdout(sys.stderr):  # Elephas prints; Flask prints its banner
            warm = subsample_rows(len(x_train), WARMUP_ROWS)
            warm_x, warm_y = x_train[warm], y_train[warm]
            fit(args.mode, session.sparkContext, warm_x, warm_y, n_classes, 1)
            keras.utils.set_random_seed(0)
            model, seconds = fit(
                args.mode, session.sparkContext, x_train, y_train, n_classes, args.epochs
            )
            proba = model.predict(x_valid, batch_size=INFERENCE_BATCH, verbose=0)
    finally:
        session.stop()
    loss = log_loss(y_valid, proba, labels=range(n_classes))
    result = {
        "samples_s": len(x_train) * args.epochs / seconds,
        "log_loss": loss,
        "seconds": seconds,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
