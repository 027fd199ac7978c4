"""Successive halving inside a trial, measured: the same search with ``search.halving`` on and off.

On Otto's search rows (the stratified 80/20 split of bench/quality.py; the holdout is not used),
each variant runs ``automl.search`` with the ``good`` preset's folds and the default search space
and warm starts, networks only (no references, no ensemble: the trials are what is measured), for
``--minutes`` of trials. Variants alternate (on, off, on, off, ...) ``--repeats`` times. For each
run it reads the study: trials ended (complete, pruned, failed), trials per hour, and the best
out-of-fold log-loss of the complete trials 5, 10 and 20 minutes after the first trial started.
The medians of each variant and the on/off ratio of trials per hour are printed last.

    .venv/bin/python bench/halving.py [--minutes 20] [--repeats 1] [--data PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import optuna
from optuna.trial import TrialState
from quality import DEFAULT_DATA, preset_recipe

import automl

ROOT = Path(__file__).resolve().parents[1]
MARKS = (5, 10, 20)  # minutes after the first trial started


def main(argv: list[str] | None = None) -> int:
    """Run the variants alternately, print each run and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="trials' time per run")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each variant")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--output", type=Path, default=ROOT / "bench/out/halving")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"halving.py: data file not found: {args.data} (use --data PATH)", file=sys.stderr)
        return 2
    marks = [mark for mark in MARKS if mark <= args.minutes]
    runs: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    bests = "".join(f" best at {mark} min |" for mark in marks)
    print(f"| halving | trials (complete/pruned/failed) | trials/h |{bests}")
    print("|" + "---|" * (3 + len(marks)))
    for repeat in range(args.repeats):
        for variant in runs:
            study = run(
                variant == "on", args.data, args.minutes, args.output / f"{variant}-{repeat}"
            )
            figures = measure(study, marks)
            runs[variant].append(figures)
            print(row(variant, figures, marks), flush=True)
    print("\nmedians:")
    medians = {v: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for v, rs in runs.items()}
    for variant, figures in medians.items():
        print(row(variant, figures, marks))
    ratio = medians["on"]["per_hour"] / medians["off"]["per_hour"]
    print(f"\ntrials per hour, halving on / off: {ratio:.2f}")
    return 0


def run(halving: bool, data: Path, minutes: float, output: Path) -> optuna.Study:
    """One search of networks only, ``minutes`` long, with halving on or off."""
    recipe = preset_recipe("good")  # bench/quality.py's: Otto with the preset, same split
    recipe["search"].update(timeout=round(minutes * 60), halving={"enabled": halving})
    recipe["training"]["final_model"] = "refit"
    recipe.update(
        name="otto-halving",
        reference={"enabled": False},
        extra_trees={"enabled": False},
        output=str(output),
    )
    recipe["data"]["train"] = str(data)
    started = time.perf_counter()
    result = automl.search(recipe, fresh=True)
    print(f"  ({'on' if halving else 'off'}: {time.perf_counter() - started:.0f} s in all)")
    return result.study


def measure(study: optuna.Study, marks: list[float]) -> dict[str, float]:
    """Trials ended by state, trials per hour of the trials' span, and the best complete
    trial's value at each mark (``inf`` before the first)."""
    trials = [t for t in study.trials if t.datetime_complete is not None]
    start = min(t.datetime_start for t in study.trials if t.datetime_start is not None)
    end = max(t.datetime_complete for t in trials)
    hours = (end - start).total_seconds() / 3600
    figures = {
        state.name.lower(): float(sum(t.state == state for t in trials))
        for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    }
    figures["per_hour"] = len(trials) / hours
    for mark in marks:
        values = [
            t.value
            for t in trials
            if t.state == TrialState.COMPLETE
            and (t.datetime_complete - start).total_seconds() <= mark * 60
        ]
        figures[f"best_{mark}"] = min(values, default=float("inf"))
    return figures


def row(variant: str, figures: dict[str, float], marks: list[float]) -> str:
    """One Markdown line."""
    counts = f"{figures['complete']:.0f}/{figures['pruned']:.0f}/{figures['fail']:.0f}"
    bests = "".join(f" {figures[f'best_{m}']:.4f} |" for m in marks)
    return f"| {variant} | {counts} | {figures['per_hour']:.1f} |{bests}"


if __name__ == "__main__":
    sys.exit(main())
