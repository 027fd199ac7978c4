"""Trials per hour on the Otto data: one trial at a time, two worker processes, two Spark tasks.

Every mode runs the same search (fixed space, random sampler, same seed: trial k is the same
network in every mode) through the engine, in one run of this script, and the search's own time
is measured (not the final model): overall, and warm (once every worker has ended a trial, so
without its start-up). The ratios compare each mode with one trial at a time. On a
2-core machine two trials side by side beat one only where a single trial cannot use both cores:
small networks whose time goes to per-step overhead in one Python thread; a large network whose
matrix products already fill both cores gains little.

    .venv/bin/python bench/parallel.py [--trials 8 | --minutes 5] [--epochs 5] [--rows N]
                                       [--modes local,processes,spark]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

import optuna
import pandas as pd

from automl.events import Progress
from automl.keras import LocalBackend, prepare_tensorflow
from automl.recipe import load_recipe
from automl.run import run_recipe

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/otto/train.csv.gz"
SPACE = {  # small tabular networks, as a search over Otto tries them
    "layers": {"low": 1, "high": 2},
    "units": {"low": 32, "high": 256, "log": True},
    "activation": ["relu", "elu"],
    "batch_norm": False,
    "dropout": {"low": 0.0, "high": 0.3},
    "optimizer": "adam",
    "learning_rate": {"low": 5e-4, "high": 5e-3, "log": True},
    "batch_size": [256, 512, 1024],
}
MODES = {"local": "1 at a time", "processes": "2 processes", "spark": "2 Spark tasks local[2]"}


class Timed(Progress):
    """Times the search itself (from its start to each trial's end)."""

    def __init__(self) -> None:
        self.started = 0.0
        self.ends: list[float] = []

    def search_started(self, plan) -> None:
        self.started = time.perf_counter()

    def trial_ended(self, end, best) -> None:
        if end.state == "complete":
            self.ends.append(time.perf_counter())

    def rates(self, workers: int) -> tuple[float, float]:
        """Trials per hour over the whole search, and once every worker has ended a trial (its
        start-up, TensorFlow's import above all, behind it)."""
        whole = len(self.ends) / (self.ends[-1] - self.started) * 3600
        warm = (len(self.ends) - workers) / (self.ends[-1] - self.ends[workers - 1]) * 3600
        return whole, warm


def recipe(table: Path, output: Path, args: argparse.Namespace, parallel: int) -> dict:
    """The benchmark's recipe: same space, sampler, seed and folds in every mode."""
    budget = {"trials": None, "timeout": int(args.minutes * 60)} if args.minutes else {}
    return {
        "name": "bench-parallel",
        "data": {"train": str(table), "target": "target", "id": "id", "holdout": 0.0},
        "search": {
            "trials": args.trials,
            **budget,
            "folds": 2,
            "sampler": "random",
            "pruner": "none",
            "seed": 0,
            "parallel": parallel,
        },
        "space": SPACE,
        "training": {"max_epochs": args.epochs, "early_stopping": {"patience": 3}},
        "output": str(output),
    }


def run_mode(mode: str, table: Path, args: argparse.Namespace) -> tuple[int, float, float]:
    """Run the search in ``mode``; return its complete trials, whole and warm trials per hour."""
    parallel = 1 if mode == "local" else 2
    if mode == "spark":
        from automl_spark import SparkTrialsBackend

        backend = SparkTrialsBackend(master="local[2]")
        backend.spark.get()  # the session starts before the clock, as worker processes do
    else:
        backend = LocalBackend()
    timed = Timed()
    with tempfile.TemporaryDirectory(prefix="bench-parallel-") as folder:
        loaded = load_recipe(recipe(table, Path(folder) / "run", args, parallel))
        try:
            run_recipe(loaded, backend, progress=timed, report=False)
        finally:
            backend.close()
    return (len(timed.ends), *timed.rates(parallel))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--trials", type=int, default=8, help="trials per mode")
    parser.add_argument("--minutes", type=float, help="a time budget per mode instead")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rows", type=int, help="use the first N rows (a short run)")
    parser.add_argument("--modes", default="local,processes,spark")
    args = parser.parse_args()
    prepare_tensorflow()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not args.data.is_file():
        raise SystemExit(f"the Otto data is not at {args.data}")
    frame = pd.read_csv(args.data, nrows=args.rows)
    with tempfile.TemporaryDirectory(prefix="bench-otto-") as folder:
        table = Path(folder) / "train.csv"
        frame.to_csv(table, index=False)
        print(f"Otto: {len(frame)} rows, 2 folds, up to {args.epochs} epochs, random sampler")
        rates: dict[str, tuple[float, float]] = {}
        for mode in args.modes.split(","):
            done, whole, warm = run_mode(mode, table, args)
            rates[mode] = whole, warm
            print(f"{MODES[mode]:>24}: {done} trials, {whole:5.0f}/h overall, {warm:5.0f}/h warm")
    if "local" in rates:
        for mode, (whole, warm) in rates.items():
            if mode != "local":
                base = rates["local"]
                print(
                    f"{MODES[mode]} / 1 at a time: {whole / base[0]:.2f}x overall, "
                    f"{warm / base[1]:.2f}x warm"
                )


if __name__ == "__main__":
    main()
