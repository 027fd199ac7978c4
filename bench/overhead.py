"""Training time of the local backend against a bare Keras ``model.fit``, in interleaved rounds.

Every variant trains the same ModelSpec, built by ``automl.keras.build_model`` with the same seed,
on the same Otto arrays (stratified 80/20 split) for exactly ``--epochs`` epochs with the same
validation rows, and is timed as a whole call (building the model included). The machine is
noisy, so the variants run in rounds, each round in the order opposite to the one before
(A B, B A, A B, ...; with more variants A B C, C B A, ...); each round gives one ratio per
variant, ``bare seconds / variant seconds`` (a speed ratio: 0.95 = 5% slower than bare), and the
table shows the median ratio over the rounds with its interquartile and min-max ranges. The
requirement checked: the local backend stays within 5% of a bare ``model.fit`` (ratio >= 0.95).

Suites:
  main   bare (jit off, validation batch 4096, as the backend), bare with Keras defaults, and
         ``LocalBackend().evaluate`` with a no-op epoch report (as a search calls it).
  parts  bare, then bare plus one per-fit part of the backend at a time: +callbacks (early
         stopping restoring the best weights, the per-epoch NaN stop, the epoch report),
         +predict (fold_result's prediction of the validation rows), +release
         (releasing_traced_graphs: gc.collect and malloc_trim after the fit), and the backend.
  eager  small fits (about 30, 100 and 300 steps in all) traced against run eagerly.

Before each timed call the Keras session is cleared and garbage collected, and after it the
gradient functions a bare fit leaves in TensorFlow's registry are removed, all untimed, so every
call starts from the same process state. ``--worker`` sets the process up as a search's worker
process (``search.parallel`` > 1) is set up; without it the fits run as in the search's own
process (``search.parallel`` 1).

    .venv/bin/python bench/overhead.py [--suite main|parts|eager] [--pairs 7] [--epochs 5]
        [--models 200-50,512x3] [--worker] [--data PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

import keras
from otto_split import DEFAULT_DATA, otto_split

from automl.keras import (
    INFERENCE_BATCH,
    LocalBackend,
    build_model,
    fold_callbacks,
    predict_proba,
    releasing_traced_graphs,
    runs_eagerly,
)
from automl.keras._fold import _gradient_registry
from automl.spec import ModelSpec
from automl.training import FoldData, TrainSettings

SEED = 0
SPECS = {  # ModelSpec defaults: activation relu, optimizer adam, learning rate 1e-3
    "200-50": ModelSpec(hidden_units=(200, 50), batch_size=1000),
    "512x3": ModelSpec(hidden_units=(512, 512, 512), dropout=0.5, batch_size=128),
}
EAGER_STEPS = (30, 100, 300)  # total training steps of the eager suite's fits


@dataclass
class Timing:
    """One timed call: seconds in all, seconds by stage, and the last epoch's val_loss."""

    total: float
    stages: dict[str, float] = field(default_factory=dict)
    val_loss: float = math.nan


Variant = Callable[[ModelSpec, FoldData, int], Timing]


class GcClock:
    """Seconds spent in the garbage collector while installed (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start

    @contextlib.contextmanager
    def installed(self) -> Iterator[GcClock]:
        gc.callbacks.append(self)
        try:
            yield self
        finally:
            gc.callbacks.remove(self)


@contextlib.contextmanager
def leaving_no_graphs() -> Iterator[None]:
    """Around a timed call, untimed: remove the gradient functions a bare ``model.fit`` leaves in
    TensorFlow's registry (what ``releasing_traced_graphs`` removes after the backend's fits).

    Left there they keep the fits' graphs alive, so every later full collection (the backend's
    own included) scans more objects, and the backend would pay for the bare runs' leak.
    """
    registry = _gradient_registry()
    before = set(registry)
    yield
    for name in set(registry) - before:
        if name.startswith("CustomGradient-"):
            del registry[name]


def load_fold(path: Path) -> FoldData:
    """Stratified 80/20 split (random_state 0), scaled on the training part, float32."""
    return FoldData(*otto_split(path))


def settings_for(epochs: int) -> TrainSettings:
    """Early stopping that never stops: every variant runs exactly ``epochs`` epochs."""
    return TrainSettings(epochs, patience=epochs, min_delta=0.0, seed=SEED)


def no_report(epoch: int, logs: dict[str, float]) -> None:
    """The epoch report a search hands the backend, doing nothing."""


def bare_fit(
    spec: ModelSpec,
    data: FoldData,
    epochs: int,
    *,
    defaults: bool = False,
    callbacks: bool = False,
    predict: bool = False,
    release: bool = False,
    eager: bool | None = None,
) -> Timing:
    """``build_model`` + ``model.fit``, with the backend's jit/validation batch unless
    ``defaults``, plus the named parts of the backend's per-fit work."""
    start = time.perf_counter()
    keras.utils.set_random_seed(SEED)
    model = build_model(spec, data.x_train.shape[1], data.n_classes)
    if not defaults:
        model.jit_compile = False
    if eager is not None:
        model.run_eagerly = eager
    built = time.perf_counter()
    extras = fold_callbacks(model, spec, settings_for(epochs), no_report)[1] if callbacks else None
    gc_clock = GcClock()  # timing the release's collection only: not a hook on every fit
    timing_gc = gc_clock.installed() if release else contextlib.nullcontext()
    releasing = releasing_traced_graphs() if release else contextlib.nullcontext()
    with timing_gc, releasing:
        fitted = model.fit(
            data.x_train,
            data.y_train,
            batch_size=spec.batch_size,
            epochs=epochs,
            validation_data=(data.x_valid, data.y_valid),
            verbose=0,
            callbacks=extras,
            **({} if defaults else {"validation_batch_size": INFERENCE_BATCH}),
        )
        fit_end, gc_in_fit = time.perf_counter(), gc_clock.seconds
    released = time.perf_counter()
    if predict:
        predict_proba(model, data.x_valid)
    end = time.perf_counter()
    stages = {"build": built - start, "fit": fit_end - built, "predict": end - released}
    if release:
        stages["gc"] = gc_clock.seconds - gc_in_fit
        stages["trim"] = released - fit_end - stages["gc"]  # the registry clean-up is in it
    return Timing(end - start, stages, fitted.history["val_loss"][-1])


def run_backend(spec: ModelSpec, data: FoldData, epochs: int) -> Timing:
    """The whole ``LocalBackend().evaluate`` call, with an epoch report as in a search."""
    start = time.perf_counter()
    result = LocalBackend().evaluate(spec, data, settings_for(epochs), on_epoch=no_report)
    if result.epochs_run != epochs:
        raise RuntimeError(f"the backend ran {result.epochs_run} epochs, not {epochs}")
    return Timing(time.perf_counter() - start, {}, result.history["val_loss"][-1])


def suite(name: str, jit: object) -> dict[str, Variant]:
    """The variants of a suite, the reference (bare) first."""
    if name == "main":
        return {
            "bare": bare_fit,
            f"bare, Keras defaults (jit={jit})": lambda s, d, e: bare_fit(s, d, e, defaults=True),
            "local backend": run_backend,
        }
    if name == "parts":
        return {
            "bare": bare_fit,
            "+callbacks": lambda s, d, e: bare_fit(s, d, e, callbacks=True),
            "+predict": lambda s, d, e: bare_fit(s, d, e, predict=True),
            "+release": lambda s, d, e: bare_fit(s, d, e, release=True),
            "local backend": run_backend,
        }
    return {
        "traced": lambda s, d, e: bare_fit(s, d, e, eager=False),
        "eager": lambda s, d, e: bare_fit(s, d, e, eager=True),
    }


def workloads(name: str, models: list[str], data: FoldData, epochs: int) -> dict[str, tuple]:
    """(spec, fold) by label: the whole fold, or (eager suite) subsets of about 30/100/300 steps
    with validation rows in the same 80/20 proportion."""
    if name != "eager":
        return {model: (SPECS[model], data) for model in models}
    loads = {}
    for model in models:
        spec = SPECS[model]
        for steps in EAGER_STEPS:
            rows = spec.batch_size * max(1, round(steps / epochs))
            if rows > len(data.x_train):
                continue
            valid = rows // 4
            fold = replace(
                data,
                x_train=data.x_train[:rows],
                y_train=data.y_train[:rows],
                x_valid=data.x_valid[:valid],
                y_valid=data.y_valid[:valid],
            )
            loads[f"{model} {math.ceil(rows / spec.batch_size) * epochs} steps"] = (spec, fold)
    return loads


def quantiles(values: list[float]) -> tuple[float, float, float, float, float]:
    """min, lower quartile, median, upper quartile, max."""
    if len(values) == 1:
        return (values[0],) * 5
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return min(values), q1, q2, q3, max(values)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the interleaved rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("main", "parts", "eager"), default="main")
    parser.add_argument("--pairs", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per fit (default 5)")
    parser.add_argument("--models", default=",".join(SPECS), help="comma-separated: 200-50,512x3")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Otto train.csv(.gz)")
    parser.add_argument(
        "--worker",
        action="store_true",
        help="set this process up as a search's worker process is set up "
        "(LocalBackend().configure_process with all cores), for every variant",
    )
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if unknown := [m for m in models if m not in SPECS]:
        parser.error(f"unknown model(s) {unknown}; choose from {list(SPECS)}")
    if not args.data.is_file():
        print(f"overhead.py: data file not found: {args.data} (use --data PATH)", file=sys.stderr)
        return 2
    command = shlex.join([".venv/bin/python", "bench/overhead.py", *sys.argv[1:]])
    started = time.perf_counter()
    data = load_fold(args.data)  # a worker holds its data before it is set up
    threads = len(os.sched_getaffinity(0))
    if args.worker:
        LocalBackend().configure_process(threads)
    jit = build_model(SPECS["200-50"], data.x_train.shape[1], data.n_classes).jit_compile
    variants = suite(args.suite, jit)
    names = list(variants)
    loads = workloads(args.suite, models, data, args.epochs)
    warm_spec, warm_data = next(iter(loads.values()))
    for variant in variants.values():  # untimed: first-call library and kernel set-up
        with leaving_no_graphs():
            variant(warm_spec, warm_data, 1)
    timings: dict[tuple[str, str], list[Timing]] = {}
    for round_ in range(args.pairs):
        order = names if round_ % 2 == 0 else names[::-1]  # A B, B A, A B, ...
        for label, (spec, fold) in loads.items():
            for name in order:
                keras.backend.clear_session()
                gc.collect()
                with leaving_no_graphs():
                    timing = variants[name](spec, fold, args.epochs)
                timings.setdefault((label, name), []).append(timing)
                note = f"  [{round_ + 1}/{args.pairs}] {label} | {name}: {timing.total:.2f} s"
                print(note, file=sys.stderr, flush=True)

    base, backend = names[0], "local backend"
    pairs = [(base, name) for name in names[1:]]
    if args.suite == "main":  # the backend against Keras defaults too
        pairs.append((names[1], backend))
    print(f"\n$ {command}")
    print(
        f"suite {args.suite}: {args.pairs} interleaved rounds (order reversed every round), "
        f"{args.epochs} epochs per fit, seed {SEED}, {len(data.x_train)} training / "
        f"{len(data.x_valid)} validation rows (eager suite: subsets); "
        f"{'a worker process (configure_process)' if args.worker else 'this process'} "
        f"with {threads} cores;\n"
        "ratio = reference seconds / variant seconds in the same round (speed; <1 = slower), "
        "median [interquartile] (min-max); the backend within 5%: median ratio >= 0.95\n"
    )
    head = ("workload", "variant / reference", "s", "ref s", "ratio", "[q1-q3]", "(min-max)")
    print("{:18} {:50} {:>6} {:>6} {:>6} {:>13} {:>13}".format(*head))
    for label in loads:
        for reference, name in pairs:
            runs, refs = timings[label, name], timings[label, reference]
            ratios = [r.total / t.total for r, t in zip(refs, runs, strict=True)]
            lo, q1, med, q3, hi = quantiles(ratios)
            verdict = ("met" if med >= 0.95 else "missed") if name == backend else ""
            print(
                f"{label:18} {f'{name} / {reference}':50} "
                f"{statistics.median(t.total for t in runs):6.2f} "
                f"{statistics.median(t.total for t in refs):6.2f} {med:6.3f} "
                f"[{q1:.3f}-{q3:.3f}] ({lo:.3f}-{hi:.3f})  {verdict}"
            )
        same = ", ".join(f"{timings[label, name][0].val_loss:.5f}" for name in names)
        print(f"{'':18} last val_loss in round 1, by variant: {same}")
        spec, fold = loads[label]
        if args.suite != "eager" and runs_eagerly(len(fold.x_train), spec.batch_size, args.epochs):
            print(f"{'':18} note: the backend runs this fit eagerly (few steps), bare traced")

    stage_names = ("build", "fit", "predict", "gc", "trim")
    print("\nmedian seconds by stage (outside fit: build, predict, gc+trim of the release)")
    print("{:18} {:34}".format("workload", "variant") + "".join(f" {s:>8}" for s in stage_names))
    for label in loads:
        for name in names:
            runs = timings[label, name]
            if not runs[0].stages:
                continue
            cells = [
                statistics.median(t.stages[s] for t in runs) if s in runs[0].stages else math.nan
                for s in stage_names
            ]
            print(f"{label:18} {name:34}" + "".join(f" {c:8.3f}" for c in cells))
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
