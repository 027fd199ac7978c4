"""Levers for a stronger ensemble, measured on a finished Otto run of ``bench/quality.py``.

The run's candidates (its kept trials and references, with their stored out-of-fold predictions
and fold models) are level 1. On the run's own split and folds, this measures, against the run's
one-level stacker (a logistic regression over the candidates' log-probabilities):

- a second level: gradient boosting trained on the features plus level 1's out-of-fold
  log-probabilities (the same folds, so its own predictions are out of fold too), with the
  stacker on top of level 1 and level 2 together;
- bagging over seeds: the best trial trained again with other seeds on the same folds, its fold
  models and out-of-fold predictions averaged over the seeds, in the stacker in its place;
- more of the rows: the best trial on 5 folds (each model sees 80% of the search rows, not 67%);
- LightGBM against scikit-learn's HistGradientBoosting, the same settings, timed in turns.

Every figure is an out-of-fold log-loss on the search rows and a log-loss on the holdout rows
no model saw, with each family's share of the stacker (networks, gradient boosting, extra trees).

    .venv/bin/pip install -r bench/requirements-levers.txt
    .venv/bin/python bench/levers.py [--run bench/out/quality] [--seeds 3] [--folds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import optuna
from quality import DEFAULT_DATA

from automl.data import fit_transform, load_dataset
from automl.keras import LocalBackend
from automl.metrics import score_all
from automl.recipe import load_recipe
from automl.results import (
    REFERENCE_ATTRS,
    Member,
    ModelBundle,
    artifact_key,
    fit_stacker,
    load_fold_models,
    load_oof,
    out_of_fold,
    stacked_proba,
)
from automl.run import RunFolder
from automl.spec import ModelSpec
from automl.training import TrainSettings
from automl.tuning import evaluate_spec, ranked_trials, record, train_settings

ROOT = Path(__file__).resolve().parents[1]


class Level:
    """Candidates by name: out-of-fold probabilities on the search rows, and holdout ones."""

    def __init__(self) -> None:
        self.oof: dict[str, np.ndarray] = {}
        self.holdout: dict[str, np.ndarray] = {}

    def add(self, name: str, oof: np.ndarray, holdout: np.ndarray) -> None:
        """One candidate's two sets of predictions."""
        self.oof[name], self.holdout[name] = oof.astype(np.float64), holdout.astype(np.float64)

    def without(self, name: str) -> Level:
        """The same candidates but ``name``."""
        other = Level()
        for kept in self.oof:
            if kept != name:
                other.add(kept, self.oof[kept], self.holdout[kept])
        return other


def main(argv: list[str] | None = None) -> int:
    """Load the run, measure each lever, print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=ROOT / "bench/out/quality")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Otto train.csv(.gz)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the bagged best trial")
    parser.add_argument("--folds", type=int, default=5, help="folds of 'more of the rows'")
    parser.add_argument("--repeats", type=int, default=3, help="timed turns of each booster")
    args = parser.parse_args(argv)
    if not (args.run / "recipe.yaml").is_file():
        print(f"levers.py: no finished run in {args.run} (run bench/quality.py)", file=sys.stderr)
        return 2
    recipe = load_recipe(args.run / "recipe.yaml", {"data.train": str(args.data)})
    search_rows, holdout = load_dataset(recipe.data).split_holdout(
        recipe.data.holdout, recipe.search.seed
    )
    folds = list(search_rows.folds(recipe.search.folds, recipe.search.seed))
    run = RunFolder(args.run)
    specs, level_1 = candidates(run, recipe.name, search_rows, holdout)
    print(f"level 1: {', '.join(level_1.oof)}\n")
    print(f"{'ensemble or member':52} {'out of fold':>12} {'holdout':>8} {'networks':>9}")

    def show(label: str, oof: np.ndarray, proba: np.ndarray, shares: str = "") -> None:
        print(f"{label:52} {loss(search_rows, oof):12.4f} {loss(holdout, proba):8.4f} {shares:>9}")

    def stack(label: str, level: Level) -> tuple[np.ndarray, np.ndarray]:
        stacking = fit_stacker(list(level.oof.values()), search_rows.target, folds)
        proba = stacked_proba(stacking.stacker, list(level.holdout.values()), n_classes)
        networks = sum(s for n, s in zip(level.oof, stacking.shares, strict=True) if "trial" in n)
        show(label, stacking.oof, proba, f"{networks:.2f}")
        return stacking.oof, proba

    n_classes = len(search_rows.classes)
    best = next(iter(specs))
    show(f"{best}, fold models", level_1.oof[best], level_1.holdout[best])
    stack("one level: the run's stacker", level_1)

    # a second level on the features and level 1's out-of-fold log-probabilities
    level_2 = second_level(level_1, search_rows, holdout, folds, recipe.search.seed)
    show("level 2: gradient boosting, features + level 1", *level_2)
    both = Level()
    for name in level_1.oof:
        both.add(name, level_1.oof[name], level_1.holdout[name])
    both.add("level 2", *level_2)
    stack("two levels: the stacker over level 1 and level 2", both)

    # the best trial bagged over seeds, in the stacker in its place
    settings = train_settings(recipe)
    runs = [(level_1.oof[best], level_1.holdout[best])]
    for offset in range(1, args.seeds):
        seeded = replace(settings, seed=settings.seed + 1000 * offset)
        runs.append(trained(specs[best], search_rows, holdout, folds, seeded))
    bagged = (np.mean([o for o, _ in runs], axis=0), np.mean([h for _, h in runs], axis=0))
    show(f"{best}, bagged over {args.seeds} seeds", *bagged)
    with_bag = level_1.without(best)
    with_bag.add(f"{best} x{args.seeds} seeds", *bagged)
    stack(f"one level, {best} bagged over {args.seeds} seeds", with_bag)

    # the best trial on more folds: each fold model sees more of the rows
    more = list(search_rows.folds(args.folds, recipe.search.seed))
    show(f"{best}, {args.folds} folds", *trained(specs[best], search_rows, holdout, more, settings))

    print()
    boosters(search_rows, holdout, folds, recipe.search.seed, args.repeats)
    return 0


def candidates(
    run: RunFolder, study_name: str, search_rows, holdout
) -> tuple[dict[str, ModelSpec], Level]:
    """The run's kept trials, best first (their specs), and its references: level 1."""
    study = optuna.load_study(study_name=study_name, storage=run.default_storage)
    specs, level = {}, Level()
    for trial in ranked_trials(study, study.user_attrs[record.METRIC]):
        spec = ModelSpec.from_dict(trial.user_attrs[record.SPEC])
        folder = run.trials / artifact_key(spec.to_json())
        if f"trial {trial.number}" not in specs and load_oof(folder) is not None:
            specs[f"trial {trial.number}"] = spec
            level.add(
                f"trial {trial.number}",
                load_oof(folder),
                fold_average(folder, search_rows, holdout),
            )
    for name in REFERENCE_ATTRS:
        folder = run.reference(name)
        if load_oof(folder) is not None:
            level.add(
                name.replace("_", " "), load_oof(folder), fold_average(folder, search_rows, holdout)
            )
    return specs, level


def fold_average(folder: Path, search_rows, holdout) -> np.ndarray:
    """The holdout probabilities of a candidate's fold models, averaged (as a bundle does)."""
    members = [Member(model, prep) for model, prep in load_fold_models(folder)]
    return ModelBundle(members, search_rows.classes, search_rows.schema).predict_proba(
        holdout.features
    )


def second_level(level: Level, search_rows, holdout, folds, seed: int):
    """Gradient boosting on the features (no transform) beside level 1's log-probabilities, one
    model per fold: its out-of-fold probabilities, and its fold models' mean on the holdout."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    _, (x, x_holdout) = fit_transform(search_rows.schema, search_rows.features, holdout.features)
    inputs = np.hstack([x, log_probabilities(level.oof)])
    inputs_holdout = np.hstack([x_holdout, log_probabilities(level.holdout)])
    oof = np.zeros((len(search_rows), len(search_rows.classes)))
    proba = np.zeros((len(holdout), len(search_rows.classes)))
    for train_rows, valid_rows in folds:
        model = HistGradientBoostingClassifier(
            learning_rate=0.05, max_iter=500, early_stopping=True, random_state=seed
        ).fit(inputs[train_rows], search_rows.target[train_rows])
        oof[valid_rows] = model.predict_proba(inputs[valid_rows])
        proba += model.predict_proba(inputs_holdout) / len(folds)
    return oof, proba


def log_probabilities(probas: dict[str, np.ndarray]) -> np.ndarray:
    """Each candidate's clipped class log-probabilities side by side, as the stacker sees them."""
    return np.log(np.clip(np.hstack(list(probas.values())), 1e-7, 1.0))


def trained(spec: ModelSpec, search_rows, holdout, folds, settings: TrainSettings):
    """``spec`` trained on ``folds`` with ``settings``: out-of-fold and holdout probabilities."""
    started = time.perf_counter()
    evaluation = evaluate_spec(spec, search_rows, folds, LocalBackend(), settings, "log_loss")
    oof = out_of_fold([f.result.valid_proba for f in evaluation.folds], folds, len(search_rows))
    members = [Member(f.result.model, f.preprocessor) for f in evaluation.folds]
    proba = ModelBundle(members, search_rows.classes, search_rows.schema).predict_proba(
        holdout.features
    )
    seconds = time.perf_counter() - started
    print(f"  (trained {len(folds)} folds, seed {settings.seed}: {seconds:.0f} s)", flush=True)
    return oof, proba


def boosters(search_rows, holdout, folds, seed: int, repeats: int) -> None:
    """HistGradientBoosting and LightGBM with the same settings (100 trees of 31 leaves, learning
    rate 0.1, 20 rows a leaf), in turns: out-of-fold and holdout log-loss, median seconds."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    try:
        from lightgbm import LGBMClassifier
    except ImportError:
        print("LightGBM is not installed: pip install -r bench/requirements-levers.txt")
        return
    makers = {
        "HistGradientBoosting": lambda: HistGradientBoostingClassifier(
            early_stopping=False, random_state=seed
        ),
        "LightGBM": lambda: LGBMClassifier(random_state=seed, n_jobs=os.cpu_count(), verbose=-1),
    }
    _, (x, x_holdout) = fit_transform(search_rows.schema, search_rows.features, holdout.features)
    seconds: dict[str, list[float]] = {name: [] for name in makers}
    scored = {}
    for _ in range(repeats):
        for name, make in makers.items():
            started = time.perf_counter()
            oof = np.zeros((len(search_rows), len(search_rows.classes)))
            proba = np.zeros((len(holdout), len(search_rows.classes)))
            for train_rows, valid_rows in folds:
                model = make().fit(x[train_rows], search_rows.target[train_rows])
                oof[valid_rows] = model.predict_proba(x[valid_rows])
                proba += model.predict_proba(x_holdout) / len(folds)
            seconds[name].append(time.perf_counter() - started)
            scored[name] = (loss(search_rows, oof), loss(holdout, proba))
    print(f"{'booster, 100 trees, 3 folds':52} {'out of fold':>12} {'holdout':>8} {'seconds':>9}")
    for name, (oof_loss, holdout_loss) in scored.items():
        median = statistics.median(seconds[name])
        print(f"{name:52} {oof_loss:12.4f} {holdout_loss:8.4f} {median:9.1f}")
    ratio = statistics.median(
        h / lg for h, lg in zip(seconds["HistGradientBoosting"], seconds["LightGBM"], strict=True)
    )
    print(f"HistGradientBoosting ÷ LightGBM seconds, median of {repeats} turns: {ratio:.2f}")


def loss(rows, proba: np.ndarray) -> float:
    """Log-loss of ``proba`` against ``rows``' classes."""
    return score_all("log_loss", rows.target, proba)["log_loss"]


if __name__ == "__main__":
    sys.exit(main())
