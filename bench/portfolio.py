"""Choose the default preset's warm starts: a small portfolio of networks that do well across
many tables, none of them Otto.

Procedure (the zero-shot portfolio of Auto-sklearn 2.0 and AutoGluon, in small):

1. Tables: every table of bench/tables.py except Otto (penguins, cars, seattle-weather, loanapp,
   401ksubs), and scikit-learn's bundled wine, breast_cancer and digits, each its 80/20
   training split (bench/tables.py's ``train.csv``; the holdout rows are never read), sampled
   down to 3,000 rows (stratified) where it is larger, so that every table costs about the same.
2. Candidates: ``--candidates`` networks drawn from the default search space
   (:class:`automl.recipe.SpaceConfig`) by Optuna's seeded random sampler, plus a few classic
   designs (two or three ReLU layers with dropout, on log1p or quantile inputs).
3. Scores: each candidate on each table, by the search's own 2-fold out-of-fold log-loss
   (:func:`automl.tuning.evaluate_spec`, the local backend, up to ``--epochs`` epochs with
   early stopping after 5, seed 0), as a search would score it. A candidate that fails scores
   the table's worst.
4. Normalised per table: 0 for the table's best candidate, 1 for its median, so that no table
   weighs more for having larger losses.
5. Greedy forward selection: start empty; add the candidate that most lowers the mean over the
   tables of the best normalised score in the portfolio; stop at ``--size``.

Writes the chosen parameters, in selection order, with the scores behind them to
``automl/recipe/portfolio.json`` (the default preset's ``space.warm_start``), and prints them.

    .venv/bin/python bench/portfolio.py [--candidates 4] [--size 3] [--epochs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import optuna
import pandas as pd
from tables import OUT, TABLES, Table, write_files

from automl.data import load_dataset
from automl.keras import LocalBackend
from automl.recipe import SpaceConfig, load_recipe
from automl.spec import ModelSpec
from automl.training import TrainSettings
from automl.tuning import evaluate_spec, suggest_spec

ROOT = Path(__file__).resolve().parents[1]
PORTFOLIO = ROOT / "automl/recipe/portfolio.json"
FOLDS = 2
SEED = 0
MOST_ROWS = 3000  # a larger training split is sampled down to this many rows, stratified
CLASSICS = [  # the designs practitioners reach for first, inside the default space
    {"layers": 2, "units_1": 512, "units_2": 256, "activation": "relu", "dropout": 0.3,
     "batch_norm": False, "initializer": "he_normal", "optimizer": "adam",
     "learning_rate": 1e-3, "batch_size": 256, "transform": "log1p"},
    {"layers": 2, "units_1": 256, "units_2": 128, "activation": "relu", "dropout": 0.2,
     "batch_norm": True, "initializer": "he_normal", "optimizer": "adam",
     "learning_rate": 2e-3, "batch_size": 128, "transform": "quantile"},
    {"layers": 3, "units_1": 512, "units_2": 512, "units_3": 512, "activation": "relu",
     "dropout": 0.5, "batch_norm": False, "initializer": "glorot_uniform", "optimizer": "adam",
     "learning_rate": 1e-3, "batch_size": 512, "transform": "log1p"},
    {"layers": 1, "units_1": 128, "activation": "elu", "dropout": 0.1, "batch_norm": False,
     "initializer": "he_normal", "optimizer": "nadam", "learning_rate": 3e-3,
     "batch_size": 64, "transform": "none"},
]  # fmt: skip


def sklearn_table(name: str, loader: str) -> Table:
    """A table scikit-learn ships inside its package (nothing is downloaded)."""

    def load() -> pd.DataFrame:
        import sklearn.datasets

        frame = getattr(sklearn.datasets, loader)(as_frame=True).frame
        frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
        return frame

    return Table(name, "target", load)


def tables() -> list[Table]:
    """The tables the portfolio is chosen over (no Otto)."""
    packaged = [table for name, table in TABLES.items() if name != "otto"]
    return [
        *packaged,
        sklearn_table("wine", "load_wine"),
        sklearn_table("breast_cancer", "load_breast_cancer"),
        sklearn_table("digits", "load_digits"),
    ]


def candidates(count: int) -> list[dict]:
    """The classic designs, then ``count`` random draws from the default space."""
    space = SpaceConfig()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=SEED))
    drawn = []
    for _ in range(count):
        trial = study.ask()
        suggest_spec(space, trial)
        drawn.append(dict(trial.params))
    return [dict(c) for c in CLASSICS] + drawn


def spec_of(params: dict) -> ModelSpec:
    """The network ``params`` stand for in the default space."""
    return suggest_spec(SpaceConfig(), optuna.trial.FixedTrial(params))


def score_table(table: Table, pool: list[dict], epochs: int) -> list[float]:
    """Each candidate's 2-fold out-of-fold log-loss on the table's training split."""
    train_csv, _ = write_files(table, OUT / table.name)
    recipe = load_recipe(
        {"name": "portfolio", "data": {"train": str(train_csv), "target": table.target,
                                       "id": table.id, "holdout": 0}}
    )  # fmt: skip
    dataset = load_dataset(recipe.data)
    if len(dataset) > MOST_ROWS:
        from sklearn.model_selection import train_test_split

        rows = np.arange(len(dataset))
        kept, _ = train_test_split(
            rows, train_size=MOST_ROWS, stratify=dataset.target, random_state=SEED
        )
        dataset = dataset.rows(np.sort(kept))
    folds = list(dataset.folds(FOLDS, seed=SEED))
    settings = TrainSettings(max_epochs=epochs, patience=5, seed=SEED)
    losses = []
    for params in pool:
        try:
            evaluation = evaluate_spec(
                spec_of(params), dataset, folds, LocalBackend(), settings, "log_loss"
            )
            losses.append(evaluation.mean)
        except Exception as exc:  # scored as the table's worst below
            print(f"  {table.name}: {params} failed: {exc}", file=sys.stderr)
            losses.append(float("nan"))
    worst = np.nanmax(losses)
    return [worst if not np.isfinite(loss) else loss for loss in losses]


def normalised(losses: list[float]) -> np.ndarray:
    """0 for the best candidate, 1 for the median one."""
    values = np.asarray(losses)
    best, middle = values.min(), float(np.median(values))
    return (values - best) / max(middle - best, 1e-12)


def greedy(scores: np.ndarray, size: int) -> list[int]:
    """Forward selection over ``scores`` (tables x candidates, normalised)."""
    chosen: list[int] = []
    for _ in range(size):
        best_so_far = scores[:, chosen].min(axis=1) if chosen else np.full(len(scores), np.inf)
        gains = [
            np.minimum(best_so_far, scores[:, c]).mean() if c not in chosen else np.inf
            for c in range(scores.shape[1])
        ]
        chosen.append(int(np.argmin(gains)))
    return chosen


def main(argv: list[str] | None = None) -> int:
    """Score every candidate on every table, select, write ``portfolio.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=4, help="random draws besides classics")
    parser.add_argument("--size", type=int, default=3, help="networks in the portfolio")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--output", type=Path, default=PORTFOLIO)
    args = parser.parse_args(argv)
    pool = candidates(args.candidates)
    losses = {}
    for table in tables():
        started = time.perf_counter()
        losses[table.name] = score_table(table, pool, args.epochs)
        print(
            f"{table.name}: best {min(losses[table.name]):.4f}, median "
            f"{statistics.median(losses[table.name]):.4f} ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    scores = np.array([normalised(row) for row in losses.values()])
    chosen = greedy(scores, args.size)
    portfolio = {
        "procedure": "bench/portfolio.py: greedy forward selection of networks by their mean "
        "best normalised 2-fold out-of-fold log-loss (0 = the table's best candidate, 1 = its "
        "median) over tables shipped inside packages, Otto excluded",
        "tables": list(losses),
        "candidates": len(pool),
        "warm_start": [pool[c] for c in chosen],
        "normalised_mean": [
            float(scores[:, chosen[: k + 1]].min(axis=1).mean()) for k in range(len(chosen))
        ],
        "log_loss": {name: [row[c] for c in chosen] for name, row in losses.items()},
        "best_log_loss": {name: min(row) for name, row in losses.items()},
    }
    args.output.write_text(json.dumps(portfolio, indent=2) + "\n")
    for rank, c in enumerate(chosen, start=1):
        print(f"{rank}. {spec_of(pool[c]).describe()}  mean normalised so far "
              f"{portfolio['normalised_mean'][rank - 1]:.3f}")  # fmt: skip
    print(f"\nwritten: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
