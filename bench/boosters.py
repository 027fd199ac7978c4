"""Gradient boosting libraries against the gradient boosting reference, on the tables of
``bench/tables.py``: is LightGBM or CatBoost a better reference for the same time?

For each table, as ``bench/tables.py`` splits it (its ``train.csv`` and ``holdout.csv``), the
training file is read as automl reads it and preprocessed as the reference's rows are (numbers
standardised, text one-hot), and each booster fits the same stratified folds (5, or 3 above
10,000 rows, as the ``good`` preset's search): its out-of-fold log-loss on the training rows, its
log-loss on the holdout (its fold models averaged) and the seconds of all its folds.

- ``HGB``: the reference as the presets train it (scikit-learn's HistGradientBoosting, learning
  rate 0.1, 31 leaves, 20 rows a leaf, at most 100 trees, stopping early on a tenth of each
  fold's training rows);
- ``LightGBM`` and ``CatBoost``: the same learning rate, at most 1,000 trees, stopping early
  after 10 rounds without gain on the same tenth (LightGBM with HGB's leaves; CatBoost with its
  own depth-6 symmetric trees);
- ``… at HGB's time``: the same library with as many trees as fit in the seconds HGB took on
  that fold, from a first fit of 20 trees (its seconds per tree; at least one tree).

The boosters run in turns, ``--repeats`` times; the seconds are medians. Both libraries come
from ``bench/requirements-levers.txt``.

    .venv/bin/pip install -r bench/requirements-levers.txt
    .venv/bin/python bench/boosters.py [--tables penguins,...,otto] [--repeats 3]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split
from tables import SEED, TABLES, fits_parser, write_files

from automl.data import Dataset, fit_transform, load_dataset
from automl.metrics import score_all
from automl.recipe import load_recipe

MAX_TREES = 1_000
PATIENCE = 10  # rounds without gain before a library stops
PROBE_TREES = 20  # the first fit that measures a library's seconds per tree

# A booster fits (x, y, stopping rows x, y, HGB's seconds on the fold) and returns the model.
Fit = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float], Any]


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; fit, score and time each booster on each table; print a Markdown table."""
    args = fits_parser(__doc__, "boosters").parse_args(argv)
    print("| table | booster | out of fold | holdout | seconds | ÷ HGB seconds |")
    print("|---|---|---|---|---|---|")
    for name in args.tables.split(","):
        train, holdout = rows(name, args.output / name)
        for booster, (oof, kept, seconds, ratio) in compare(train, holdout, args.repeats).items():
            cells = f"{oof:.4f} | {kept:.4f} | {seconds:.1f} | {ratio:.2f}"
            print(f"| {name} | {booster} | {cells} |", flush=True)
    return 0


def rows(name: str, folder: Path) -> tuple[Dataset, Dataset]:
    """The table's training and holdout files, read as automl reads a table."""
    table = TABLES[name]
    read = []
    for path in write_files(table, folder):
        data = {"train": str(path), "target": table.target, "id": table.id, "holdout": 0}
        read.append(load_dataset(load_recipe({"name": name, "data": data}).data))
    return read[0], read[1]


def compare(
    train: Dataset, holdout: Dataset, repeats: int
) -> dict[str, tuple[float, float, float, float]]:
    """Per booster: out-of-fold and holdout log-loss, median seconds, and the median ratio of
    its seconds to HGB's in the same turn."""
    folds = 3 if len(train) > 10_000 else 5
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=SEED).split(
        np.zeros(len(train)), train.target
    ))  # fmt: skip
    preprocessor, (x,) = fit_transform(train.schema, train.features)
    x_holdout = preprocessor.transform(holdout.features)
    seconds: dict[str, list[float]] = {}
    scores: dict[str, tuple[float, float]] = {}
    for _ in range(repeats):
        hgb_seconds: list[float] = []
        for booster, fit in boosters(len(train.classes)).items():
            oof = np.zeros((len(train), len(train.classes)))
            proba = np.zeros((len(holdout), len(train.classes)))
            started = time.perf_counter()
            for fold, (train_rows, valid_rows) in enumerate(splits):
                fold_started = time.perf_counter()
                fitting, stopping = train_test_split(
                    train_rows, test_size=0.1, stratify=train.target[train_rows], random_state=SEED
                )
                given = 0.0 if booster == "HGB" else hgb_seconds[fold]
                model = fit(
                    x[fitting], train.target[fitting], x[stopping], train.target[stopping], given
                )
                oof[valid_rows] = model.predict_proba(x[valid_rows])
                proba += model.predict_proba(x_holdout) / len(splits)
                if booster == "HGB":
                    hgb_seconds.append(time.perf_counter() - fold_started)
            seconds.setdefault(booster, []).append(time.perf_counter() - started)
            scores[booster] = (log_loss(train, oof), log_loss(holdout, proba))
    return {
        booster: (
            *scores[booster],
            statistics.median(taken),
            statistics.median(t / h for t, h in zip(taken, seconds["HGB"], strict=True)),
        )
        for booster, taken in seconds.items()
    }


def boosters(n_classes: int) -> dict[str, Fit]:
    """The boosters in the order they run (HGB first: the others may take its seconds)."""
    return {
        "HGB": _hgb,
        "LightGBM": lambda x, y, xs, ys, _: _lightgbm(MAX_TREES).fit(
            x, y, eval_X=(xs,), eval_y=(ys,), callbacks=[_lightgbm_stop()]
        ),
        "LightGBM at HGB's time": lambda x, y, xs, ys, given: _lightgbm(
            _trees_in(given, lambda trees: _lightgbm(trees).fit(x, y))
        ).fit(x, y),
        "CatBoost": lambda x, y, xs, ys, _: _catboost(MAX_TREES, n_classes).fit(
            x, y, eval_set=(xs, ys), early_stopping_rounds=PATIENCE
        ),
        "CatBoost at HGB's time": lambda x, y, xs, ys, given: _catboost(
            _trees_in(given, lambda trees: _catboost(trees, n_classes).fit(x, y)), n_classes
        ).fit(x, y),
    }


def _hgb(x: np.ndarray, y: np.ndarray, xs: np.ndarray, ys: np.ndarray, _: float) -> Any:
    """The reference's settings; it holds out its own tenth (the same share, its own draw)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(early_stopping=True, random_state=SEED)
    return model.fit(np.concatenate([x, xs]), np.concatenate([y, ys]))


def _lightgbm(trees: int) -> Any:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(
        n_estimators=trees, learning_rate=0.1, num_leaves=31, min_child_samples=20,
        random_state=SEED, n_jobs=-1, verbose=-1,
    )  # fmt: skip


def _lightgbm_stop() -> Any:
    from lightgbm import early_stopping

    return early_stopping(PATIENCE, verbose=False)


def _catboost(trees: int, n_classes: int) -> Any:
    from catboost import CatBoostClassifier

    loss = "MultiClass" if n_classes > 2 else "Logloss"
    return CatBoostClassifier(
        iterations=trees, learning_rate=0.1, loss_function=loss, random_seed=SEED,
        thread_count=-1, verbose=0, allow_writing_files=False,
    )  # fmt: skip


def _trees_in(seconds: float, fit: Callable[[int], Any]) -> int:
    """How many trees fit in ``seconds``, from the seconds of a first fit of
    :data:`PROBE_TREES` (which counts against them)."""
    started = time.perf_counter()
    fit(PROBE_TREES)
    per_tree = (time.perf_counter() - started) / PROBE_TREES
    return max(1, min(MAX_TREES, int((seconds - per_tree * PROBE_TREES) / per_tree)))


def log_loss(rows: Dataset, proba: np.ndarray) -> float:
    """Log-loss of ``proba`` against ``rows``' classes."""
    return score_all("log_loss", rows.target, proba)["log_loss"]


if __name__ == "__main__":
    sys.exit(main())
