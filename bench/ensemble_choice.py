"""How the final model is chosen, on finished runs of ``bench/tables.py``: the stacker, greedy
weights, or the best single candidate.

For each table's run (``<output>/<table>/run``), its candidates (the kept trials and the
references, with their stored out-of-fold predictions and fold models) are combined three ways,
each scored out of fold on the run's own folds as ``ensemble.method: auto`` scores them, so that
the score does not reward a choice for fitting the rows it is scored on:

- the stacker: each fold's rows predicted by a stacker fitted on the other folds;
- greedy weights: each fold's rows blended by weights chosen on the other folds;
- the best single candidate: each fold's rows predicted by the candidate that scored best on the
  other folds' rows.

Each is also scored on the table's ``holdout.csv``, which no model saw, as its fold models'
average (references too; a run that refits them on every row scores a little differently). The
last columns say which of the three ``auto`` picks today (stacker or greedy) and which it would
pick with the best single candidate beside them, and the holdout log-loss of each pick.

    .venv/bin/python bench/ensemble_choice.py [--output bench/out/tables] [--tables cars,...]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd
from _peer import row_losses
from refit import split_rows
from tables import TABLES, finished_runs, runs_parser

from automl.metrics import score_all
from automl.recipe import load_recipe
from automl.results import (
    REFERENCE_ATTRS,
    Member,
    ModelBundle,
    fit_stacker,
    load_fold_models,
    load_oof,
    select_ensemble,
    selection_oof,
    stacked_proba,
)
from automl.results._greedy import blend


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; score each way of combining each run's candidates; one Markdown row per
    table."""
    parser = runs_parser(__doc__)
    args = parser.parse_args(argv)
    print(
        "| table | candidates | stacker | greedy | best single | auto picks | holdout "
        "| with the single | holdout |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for folder in finished_runs(parser, args):
        recipe = load_recipe(folder / "run" / "recipe.yaml")
        rows, _ = split_rows(recipe, folder / "run")
        holdout = pd.read_csv(folder / "holdout.csv")
        features = holdout[list(rows.schema.columns)]
        labels = [str(c) for c in rows.classes]
        folds = list(rows.folds(recipe.search.folds, recipe.search.seed))
        oofs, probas = [], []
        for stored in candidate_folders(folder / "run"):
            oofs.append(np.asarray(load_oof(stored), dtype=np.float64))
            members = [Member(model, prep) for model, prep in load_fold_models(stored)]
            probas.append(ModelBundle(members, rows.classes, rows.schema).predict_proba(features))
        target = rows.target
        stacking = fit_stacker(oofs, target, folds, rows.weights)
        weights = select_ensemble(oofs, target, "log_loss", recipe.ensemble.rounds).weights
        single = int(np.argmin([log_loss(target, oof) for oof in oofs]))
        ways = {  # name: (out-of-fold predictions as auto scores them, holdout predictions)
            "stacker": (stacking.oof, stacked_proba(stacking.stacker, probas, len(labels))),
            "greedy": (
                selection_oof(oofs, target, folds, "log_loss", recipe.ensemble.rounds),
                blend(probas, weights),
            ),
            "best single": (best_single_oof(oofs, target, folds), probas[single]),
        }
        scores = {name: log_loss(target, oof) for name, (oof, _) in ways.items()}
        kept = {
            name: row_losses(holdout[TABLES[folder.name].target], proba, labels).mean()
            for name, (_, proba) in ways.items()
        }
        today = min(("stacker", "greedy"), key=scores.__getitem__)
        with_single = min(scores, key=scores.__getitem__)
        cells = " | ".join(f"{scores[name]:.4f} / {kept[name]:.4f}" for name in ways)
        print(
            f"| {folder.name} | {len(oofs)} | {cells} | {today} | {kept[today]:.4f} "
            f"| {with_single} | {kept[with_single]:.4f} |",
            flush=True,
        )
    return 0


def candidate_folders(run: Path) -> list[Path]:
    """The run's kept trials' folders, then its references' (each holding stored predictions)."""
    trials = sorted(p for p in (run / "trials").iterdir() if p.is_dir())
    found = trials + [run / name for name in REFERENCE_ATTRS]
    return [folder for folder in found if load_oof(folder) is not None]


def best_single_oof(oofs: list[np.ndarray], target: np.ndarray, folds) -> np.ndarray:
    """On each fold, the out-of-fold predictions of the candidate that scored best on the other
    folds' rows."""
    out = np.zeros_like(oofs[0])
    for train_rows, valid_rows in folds:
        pick = int(np.argmin([log_loss(target[train_rows], o[train_rows]) for o in oofs]))
        out[valid_rows] = oofs[pick][valid_rows]
    return out


def log_loss(target: np.ndarray, proba: np.ndarray) -> float:
    """Log-loss of ``proba`` against class codes ``target``."""
    return score_all("log_loss", target, proba)["log_loss"]


if __name__ == "__main__":
    sys.exit(main())
