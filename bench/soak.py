"""Memory over a long search: resident set size after every ``--every`` trials.

A search of ``--trials`` short trials (2 folds, a few epochs, small networks) on a small stratified
sample of the Otto data, with the local backend and a SQLite study. Batch sizes are chosen so that
some fits run eagerly and others trace a training step, the two ways Keras trains here. With
``--parallel 1`` trials train in this process; with more, in worker processes that are recycled
after their share of folds. After every ``--every`` trials the garbage collector runs and the RSS
of this process and its workers together is printed; the closing line compares the peak with the
value after the first ``--every`` trials. The requirement: the peak stays within 10% of it.

    .venv/bin/python bench/soak.py [--trials 200] [--every 20] [--parallel 1] [--rows 2000]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

import optuna
import pandas as pd
from sklearn.model_selection import train_test_split

from automl.events import Progress, TrialEnd
from automl.keras import LocalBackend
from automl.recipe import load_recipe
from automl.run import run_recipe

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/otto/train.csv.gz"


def rss_mib(pid: int | str = "self") -> float:
    """A process's resident set size now, in MiB (Linux ``/proc``); 0 when it has ended."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_rss_mib() -> float:
    """The RSS of this process and its worker processes together, in MiB."""
    return rss_mib() + sum(rss_mib(child.pid) for child in multiprocessing.active_children())


class RssCurve(Progress):
    """Prints the RSS (after a garbage collection) every ``every`` trials and keeps the curve."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.ended = 0
        self.curve: list[tuple[int, float]] = []
        self.clock = time.perf_counter()

    def trial_ended(self, end: TrialEnd, best: float | None) -> None:
        self.ended += 1
        if self.ended % self.every == 0:
            gc.collect()
            self.curve.append((self.ended, tree_rss_mib()))
            print(
                f"after {self.ended:4d} trials: RSS {self.curve[-1][1]:7.1f} MiB "
                f"({time.perf_counter() - self.clock:6.1f} s)",
                flush=True,
            )


def sample(path: Path, rows: int) -> pd.DataFrame:
    """A stratified sample of ``rows`` Otto rows (random_state 0)."""
    frame = pd.read_csv(path)
    kept, _ = train_test_split(frame, train_size=rows, stratify=frame["target"], random_state=0)
    return kept.reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=1, help="1: trials in this process")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if not args.data.is_file():
        sys.exit(f"{args.data}: the Otto training file is not there (pass --data)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = sample(args.data, args.rows)
    with tempfile.TemporaryDirectory() as folder:
        recipe = load_recipe(
            {
                "name": "soak",
                "data": {"target": "target", "id": "id", "holdout": 0},
                "search": {
                    "trials": args.trials,
                    "folds": 2,
                    "sampler": "random",
                    "seed": 0,
                    "parallel": args.parallel,
                },
                "space": {
                    "layers": {"low": 1, "high": 3},
                    "units": {"low": 8, "high": 64, "log": True},
                    "batch_size": [16, 32, 128],
                },
                "training": {"max_epochs": 4, "early_stopping": {"patience": 1}},
                "output": folder,
            }
        )
        curve = RssCurve(args.every)
        print(
            f"{args.trials} trials, {args.rows} rows, parallel {args.parallel}, "
            f"start: RSS {rss_mib():.1f} MiB",
            flush=True,
        )
        run_recipe(recipe, LocalBackend(), progress=curve, table=table, report=False)
    first = curve.curve[0][1]
    peak = max(value for _, value in curve.curve)
    print(
        f"peak RSS {peak:.1f} MiB = {peak / first:.3f} x the value after {args.every} trials "
        f"({first:.1f} MiB); limit 1.100; process peak (ru_maxrss) "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB"
    )


if __name__ == "__main__":
    main()
