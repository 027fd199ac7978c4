"""Model quality on Otto: ``automl search`` against gradient boosting and AutoGluon, one split.

In one run and on the same stratified 80/20 split (random_state 0; no system sees the holdout
rows), it trains scikit-learn's HistGradientBoostingClassifier with defaults on the search rows,
then runs ``automl`` on ``recipes/otto.yaml`` (or, with ``--preset good``, that preset with no
Otto recipe) with a time budget for the whole call, then AutoGluon ``best_quality`` on the same
search rows with the same budget as its ``time_limit`` (``bench/_autogluon.py`` in the bench-only
``.venv-autogluon``; ``--autogluon-python none`` leaves it out), and prints the
holdout log-loss, accuracy and wall time of each, the best single trial and the references inside
the run (and greedy weights over a stacked ensemble's candidates, side by side), and when the
search's best out-of-fold score first reached 0.49. The best-so-far curve (time → best
out-of-fold log-loss) is written as a PNG.

    .venv/bin/python bench/quality.py [--minutes 60] [--preset good] [--set ensemble.seeds=3]
        [--data PATH] [--png bench/quality.png]
        [--autogluon-python .venv-autogluon/bin/python | none]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from _peer import AUTOGLUON_PYTHON, peer_python, recipe_overrides, run_autogluon
from optuna.trial import TrialState

import automl
from automl.data import fit_transform, load_dataset
from automl.metrics import score_all
from automl.recipe import load_recipe, preset_fields
from automl.results import (
    REFERENCE_ATTRS,
    Member,
    ModelBundle,
    artifact_key,
    load_fold_models,
    load_oof,
    select_ensemble,
)
from automl.run import RunFolder
from automl.spec import ModelSpec
from automl.tuning import ranked_trials, record

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared/data/otto/train.csv.gz"
OTTO_ROWS = 61_878
RECIPE = ROOT / "recipes/otto.yaml"
TARGET = 0.49  # the out-of-fold log-loss the search should reach early


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run both systems on the same split, print the table, draw the curve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="automl's whole budget")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Otto train.csv(.gz)")
    parser.add_argument("--recipe", type=Path, default=RECIPE)
    parser.add_argument("--preset", default=None, help="this preset instead of --recipe")
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="a recipe field"
    )
    parser.add_argument("--autogluon-python", default=str(AUTOGLUON_PYTHON))
    parser.add_argument("--output", type=Path, default=ROOT / "bench/out/quality")
    parser.add_argument("--png", type=Path, default=ROOT / "bench/quality.png")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"quality.py: data file not found: {args.data} (use --data PATH)", file=sys.stderr)
        return 2
    peer = peer_python(args.autogluon_python)
    budget = max(60, round(args.minutes * 60))
    overrides = {"data.train": str(args.data), "search.timeout": budget, "output": str(args.output)}
    overrides.update(recipe_overrides(args.set))
    recipe = load_recipe(preset_recipe(args.preset) if args.preset else args.recipe, overrides)
    rows = {}
    search_rows, holdout = load_dataset(recipe.data).split_holdout(
        recipe.data.holdout, recipe.search.seed
    )
    rows["HistGradientBoosting, defaults"] = gradient_boosting(search_rows, holdout)
    print_row("HistGradientBoosting, defaults", *rows["HistGradientBoosting, defaults"])

    started = time.perf_counter()
    began = datetime.now()
    result = automl.search(recipe, fresh=True)
    wall = time.perf_counter() - started
    scores = result.holdout or {}
    how = f"preset {args.preset}" if args.preset else recipe.training.final_model
    name = f"automl ({how}), {args.minutes:g} min budget"
    rows[name] = (scores.get("log_loss", np.nan), scores.get("accuracy", np.nan), wall)
    if peer is not None:
        rows[f"AutoGluon best_quality, {args.minutes:g} min"] = autogluon(
            peer, search_rows, holdout, budget, args.output / "autogluon"
        )
    inside = inside_the_run(result, search_rows, holdout)
    print(
        f"\nOtto, stratified 80/20 split (random_state 0): {len(search_rows)} search rows, "
        f"{len(holdout)} holdout rows\n"
    )
    print(f"{'system':44} {'log-loss':>9} {'accuracy':>9} {'time':>8}")
    for label, (loss, accuracy, seconds) in {**rows, **inside}.items():
        print_row(label, loss, accuracy, seconds)
    counts = {s.name.lower(): 0 for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    for trial in result.study.trials:
        key = trial.state.name.lower()
        counts[key] = counts.get(key, 0) + 1
    print(f"\ntrials: {', '.join(f'{n} {s}' for s, n in counts.items())}")
    curve = best_so_far(result.study, began)
    reached = next((t for t, v in curve if v <= TARGET), None)
    when = f"after {reached / 60:.1f} min" if reached is not None else "not reached"
    print(f"best out-of-fold log-loss {TARGET}: {when}")
    board = result.leaderboard
    print(
        "\n"
        + board.head(8)[
            ["rank", "trial", "state", "log_loss", "accuracy", "architecture"]
        ].to_string(index=False)
    )
    draw_curve(curve, result, args.png)
    print(f"\ncurve: {args.png}")
    return 0


def preset_recipe(preset: str) -> dict:
    """Otto as a table searched with ``preset`` and no recipe of its own: the preset's fields
    for its size, the recipe's default holdout and seed (so the split is the same)."""
    recipe = {"name": f"otto-{preset}", "data": {"train": "", "target": "target", "id": "id"}}
    return recipe | preset_fields(preset, rows=OTTO_ROWS)


def autogluon(python: Path, search_rows, holdout, budget: float, folder: Path):
    """AutoGluon on the search rows (written as CSV, id and target as the file had them):
    holdout log-loss, accuracy and wall time; the summary is printed."""
    files = []
    for name, rows in (("search", search_rows), ("holdout", holdout)):
        frame = rows.features.copy()
        frame.insert(0, "id", rows.ids.to_numpy())
        frame["target"] = np.asarray(rows.classes, dtype=object)[rows.target]
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_csv(folder / f"{name}.csv", index=False)
        files.append(folder / f"{name}.csv")
    peer = run_autogluon(python, *files, "target", "id", budget, folder)
    if peer.proba is None:
        print(f"AutoGluon failed: {peer.error}", file=sys.stderr)
        return np.nan, np.nan, peer.seconds
    print(f"AutoGluon: {peer.summary}")
    proba = peer.proba[[str(c) for c in holdout.classes]].to_numpy()
    scores = score_all("log_loss", holdout.target, proba)
    return scores["log_loss"], scores["accuracy"], peer.seconds


def gradient_boosting(search_rows, holdout) -> tuple[float, float, float]:
    """HistGradientBoostingClassifier, defaults, on the search rows; holdout scores, seconds.

    The features go through the search's preprocessor without a transform (imputed, scaled,
    one-hot categories), which leaves the trees' splits as they would be on the raw numbers.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    started = time.perf_counter()
    _, (x, x_holdout) = fit_transform(search_rows.schema, search_rows.features, holdout.features)
    model = HistGradientBoostingClassifier(random_state=0).fit(x, search_rows.target)
    proba = model.predict_proba(x_holdout)
    scores = score_all("log_loss", holdout.target, proba)
    return scores["log_loss"], scores["accuracy"], time.perf_counter() - started


def inside_the_run(result, search_rows, holdout) -> dict[str, tuple[float, float, float]]:
    """Holdout scores of the run's best single trial and references (their fold models), and
    of greedy weights over the ensemble's candidates when the run stacked them."""
    folder = RunFolder(result.run_dir)
    ranked = ranked_trials(result.study, result.study.user_attrs[record.METRIC])
    if not ranked:  # no trial completed: no bundle, nothing to compare
        return {}
    folders = {}
    for trial in ranked:
        key = artifact_key(ModelSpec.from_dict(trial.user_attrs[record.SPEC]).to_json())
        if (folder.trials / key).is_dir():
            folders[f"trial {trial.number}"] = folder.trials / key
    for name in REFERENCE_ATTRS:
        if folder.reference(name).is_dir():
            folders[name.replace("_", " ")] = folder.reference(name)
    probas = {}
    for label, folder in folders.items():
        members = [Member(m, p) for m, p in load_fold_models(folder)]
        bundle = ModelBundle(members, result.best.classes, result.best.schema)
        probas[label] = bundle.predict_proba(holdout.features)
    shown = {f"  best single trial ({ranked[0].number}), fold models": f"trial {ranked[0].number}"}
    shown |= {"  reference in the run, fold models": "reference"}
    shown |= {"  extra trees in the run, fold models": "extra trees"}
    scored = {
        label: _holdout(holdout, probas[name]) for label, name in shown.items() if name in probas
    }
    if result.best.info.get("ensemble_method") == "stack":
        oofs = [load_oof(folder) for folder in folders.values()]
        selection = select_ensemble(oofs, search_rows.target, "log_loss")
        blend = sum(w * p for w, p in zip(selection.weights, probas.values(), strict=True))
        scored["  greedy weights, the same candidates"] = _holdout(holdout, blend)
    return scored


def _holdout(holdout, proba: np.ndarray) -> tuple[float, float, float]:
    scores = score_all("log_loss", holdout.target, proba)
    return scores["log_loss"], scores["accuracy"], np.nan


def best_so_far(study, began: datetime) -> list[tuple[float, float]]:
    """(seconds since the search began, best out-of-fold value) at each improvement, and at the
    last trial's end."""
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    points, best = [], np.inf
    for trial in sorted(done, key=lambda t: t.datetime_complete):
        if trial.value < best:
            best = trial.value
            points.append(((trial.datetime_complete - began).total_seconds(), best))
    ended = [t.datetime_complete for t in study.trials if t.datetime_complete is not None]
    if points and ended:
        points.append(((max(ended) - began).total_seconds(), best))
    return points


def draw_curve(curve, result, path: Path) -> None:
    """Best-so-far out-of-fold log-loss over time, with the reference and the ensemble."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 4.5))
    if curve:
        times = [t / 60 for t, _ in curve]
        values = [v for _, v in curve]
        axes.step(times, values, where="post", label="best trial so far (out-of-fold)")
        axes.plot(times[:-1], values[:-1], "o", markersize=3, color="C0")
        axes.set_xlim(0, times[-1] * 1.02)
    attrs = result.study.user_attrs
    if "reference" in attrs:
        axes.axhline(
            attrs["reference"]["value"],
            color="C2",
            linestyle="--",
            label="gradient boosting reference (out-of-fold)",
        )
    if "ensemble" in attrs:
        axes.axhline(
            attrs["ensemble"]["value"], color="C3", linestyle=":", label="ensemble (out-of-fold)"
        )
    axes.axhline(TARGET, color="grey", linewidth=0.8, label=f"{TARGET}")
    axes.set_xlabel("minutes since the search began (the references train first)")
    axes.set_ylabel("log-loss")
    axes.set_title("automl on Otto: best out-of-fold log-loss so far")
    axes.legend()
    axes.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    pyplot.close(figure)


def print_row(label: str, loss: float, accuracy: float, seconds: float) -> None:
    """One table line; a missing time prints as a dash."""
    when = "-" if np.isnan(seconds) else f"{seconds:.0f} s"
    print(f"{label:44} {loss:9.4f} {accuracy:9.4f} {when:>8}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
