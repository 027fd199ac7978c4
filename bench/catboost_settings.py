"""The CatBoost reference under other settings, on finished runs of ``bench/tables.py``.

For each table's run (``<output>/<table>/run``), the CatBoost reference is fitted again on the
run's own search rows and folds, as the run fitted it, once with the recipe's settings and once
with each variant below: its out-of-fold log-loss on the search rows (what the run would have
seen) and the log-loss of its fold models, averaged, on the table's ``holdout.csv``, which no
model saw. The settings are chosen on the out-of-fold column; the holdout column only reports.

    .venv/bin/python bench/catboost_settings.py [--output bench/out/tables] [--tables cars,...]
"""

from __future__ import annotations

import os
import sys
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd
from _peer import row_losses
from refit import split_rows
from tables import TABLES, finished_runs, runs_parser

from automl.data import Dataset
from automl.metrics import score_all
from automl.recipe import load_recipe
from automl.results import fit_reference, references

# Each variant's changes to the recipe's catboost section.
VARIANTS: dict[str, dict[str, Any]] = {
    "the recipe's": {},
    "learning rate 0.05": {"learning_rate": 0.05},
    "learning rate 0.03": {"learning_rate": 0.03},
    "depth 4": {"depth": 4},
    "300 trees, no stopping": {"iterations": 300, "early_stopping": False},
    "500 trees at 0.03, no stopping": {
        "iterations": 500,
        "learning_rate": 0.03,
        "early_stopping": False,
    },
}


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; fit each variant on each run's folds; print one Markdown row each."""
    parser = runs_parser(__doc__)
    args = parser.parse_args(argv)
    print("| table | CatBoost settings | out of fold | holdout |")
    print("|---|---|---|---|")
    for folder in finished_runs(parser, args):
        recipe = load_recipe(folder / "run" / "recipe.yaml")
        rows, _ = split_rows(recipe, folder / "run")
        holdout = pd.read_csv(folder / "holdout.csv")
        target = TABLES[folder.name].target
        folds = list(rows.folds(recipe.search.folds, recipe.search.seed))
        for variant, changes in VARIANTS.items():
            settings = recipe.catboost.model_copy(update={"enabled": True, **changes})
            changed = recipe.model_copy(update={"catboost": settings})
            (reference,) = (r for r in references(changed) if r.name == "catboost")
            oof, proba = np.zeros((len(rows), len(rows.classes))), 0.0
            for train_rows, valid_rows in folds:
                model, preprocessor = fit_reference(reference, rows.rows(train_rows))
                valid = rows.rows(valid_rows).features
                oof[valid_rows] = model.predict_proba(preprocessor.transform(valid))
                features = holdout[list(rows.schema.columns)]
                proba += model.predict_proba(preprocessor.transform(features)) / len(folds)
            kept = row_losses(holdout[target], proba, [str(c) for c in rows.classes]).mean()
            cells = f"{out_of_fold(rows, oof):.4f} | {kept:.4f}"
            print(f"| {folder.name} | {variant} | {cells} |", flush=True)
    return 0


def out_of_fold(rows: Dataset, proba: np.ndarray) -> float:
    """Log-loss of the out-of-fold ``proba`` against ``rows``' classes."""
    return score_all("log_loss", rows.target, proba)["log_loss"]


if __name__ == "__main__":
    sys.exit(main())
