"""Training throughput of the local backend against a bare Keras ``model.fit``, side by side.

Both sides train the same ModelSpec, built by ``automl.keras.build_model``, on the same Otto
arrays for exactly ``--epochs`` epochs. Runs are interleaved and the median of ``--repeats`` is
reported, as the machine is noisy. The requirement it checks: the local backend stays within 5%
of a bare ``model.fit``.

    .venv/bin/python bench/overhead.py [--epochs 5] [--repeats 3] [--data PATH]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

import keras
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from automl.keras import LocalBackend, build_model
from automl.spec import ModelSpec
from automl.training import FoldData, TrainSettings

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/otto/train.csv.gz"
SPECS = {  # ModelSpec defaults: activation relu, optimizer adam, learning rate 1e-3
    "200-50 bs1000": ModelSpec(hidden_units=(200, 50), batch_size=1000),
    "512x3 drop0.5 bs128": ModelSpec(hidden_units=(512, 512, 512), dropout=0.5, batch_size=128),
}
Run = Callable[[ModelSpec, FoldData, int], list[float]]


class EpochClock(keras.callbacks.Callback):
    """Records ``time.perf_counter()`` when created and at each epoch's end (no batch hooks)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = [time.perf_counter()]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.times.append(time.perf_counter())


def load_fold(path: Path) -> FoldData:
    """Stratified 80/20 split (random_state 0), scaled on the training part, float32."""
    frame = pd.read_csv(path)
    x = frame.filter(like="feat_").to_numpy(dtype=np.float64)
    classes, y = np.unique(frame["target"].to_numpy(), return_inverse=True)
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    scaler = StandardScaler().fit(x_tr)
    x_tr, x_va = (scaler.transform(a).astype(np.float32) for a in (x_tr, x_va))
    return FoldData(x_tr, y_tr.astype(np.int64), x_va, y_va.astype(np.int64), len(classes))


def run_bare(spec: ModelSpec, data: FoldData, epochs: int, matched: bool) -> list[float]:
    """Bare ``model.fit``: Keras defaults, or (``matched``) the backend's jit/validation batch."""
    clock = EpochClock()
    keras.utils.set_random_seed(0)
    model = build_model(spec, data.x_train.shape[1], data.n_classes)
    extra = {"validation_batch_size": 4096} if matched else {}
    if matched:
        model.jit_compile = False
    model.fit(
        data.x_train,
        data.y_train,
        batch_size=spec.batch_size,
        epochs=epochs,
        validation_data=(data.x_valid, data.y_valid),
        verbose=0,
        callbacks=[clock],
        **extra,
    )
    return [*clock.times, time.perf_counter()]


def run_backend(spec: ModelSpec, data: FoldData, epochs: int) -> list[float]:
    """The whole ``LocalBackend().evaluate`` call (no epoch clock: the backend is not touched)."""
    start = time.perf_counter()
    settings = TrainSettings(epochs, patience=epochs, min_delta=0.0, seed=0)
    result = LocalBackend().evaluate(spec, data, settings)
    if result.epochs_run != epochs:
        raise RuntimeError(f"the backend ran {result.epochs_run} epochs, not {epochs}")
    return [start, time.perf_counter()]


def rates(times: list[float], rows: int, epochs: int) -> tuple[float, float]:
    """(whole call, steady state after epoch 1) in samples/s from [start, epoch ends..., end].

    The steady rate needs the epoch ends; with only [start, end] it is NaN.
    """
    whole = rows * epochs / (times[-1] - times[0])
    has_epochs = len(times) == epochs + 2 and epochs > 1
    steady = rows * (epochs - 1) / (times[-2] - times[1]) if has_epochs else float("nan")
    return whole, steady


def medians(samples: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Medians of (whole call, steady state) pairs, and the whole-call spread (max-min)/median."""
    wholes, steadies = zip(*samples, strict=True)
    whole = statistics.median(wholes)
    return whole, statistics.median(steadies), (max(wholes) - min(wholes)) / whole


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the interleaved benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Otto train.csv(.gz)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per variant (default 3)")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"overhead.py: data file not found: {args.data} (use --data PATH)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    data = load_fold(args.data)
    rows = len(data.x_train)
    jit = build_model(SPECS["200-50 bs1000"], data.x_train.shape[1], data.n_classes).jit_compile
    runs: dict[str, Run] = {
        f"bare defaults (jit={jit})": lambda s, d, e: run_bare(s, d, e, matched=False),
        "bare jit=False val_bs=4096": lambda s, d, e: run_bare(s, d, e, matched=True),
        "local backend": run_backend,
    }
    names = list(runs)
    for run in runs.values():  # warm-up, untimed: first-call library and kernel set-up
        run(SPECS["200-50 bs1000"], data, 1)
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for repeat in range(args.repeats):
        order = names[repeat % 3 :] + names[: repeat % 3]  # rotate: no variant always first
        for model_name, spec in SPECS.items():
            for name in order:
                keras.backend.clear_session()
                gc.collect()
                whole, steady = rates(runs[name](spec, data, args.epochs), rows, args.epochs)
                results.setdefault((model_name, name), []).append((whole, steady))
                progress = f"  [{repeat + 1}/{args.repeats}] {model_name} | {name}: {whole:.0f}/s"
                print(progress, file=sys.stderr, flush=True)
    print(
        f"\n{rows} training rows x {args.epochs} epochs, median of {args.repeats} runs; "
        "spread = (max-min)/median;\n"
        "steady = epochs 2.. only (bare runs);\n"
        "ratio = backend / variant, whole call; <=5%: ratio >= 0.95\n"
    )
    head = ("model", "variant", "samples/s", "spread", "steady", "ratio")
    print("{:20} {:27} {:>9} {:>6} {:>9} {:>6}  <=5%".format(*head))
    for model_name in SPECS:
        med = {name: medians(results[model_name, name]) for name in names}
        for name in names:
            ratio = med["local backend"][0] / med[name][0]
            verdict = f"{ratio:6.3f}  {'yes' if ratio >= 0.95 else 'NO'}"
            verdict = "" if name == "local backend" else verdict
            whole, steady, spread = med[name]
            print(f"{model_name:20} {name:27} {whole:9.0f} {spread:6.0%} {steady:9.0f} {verdict}")
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
