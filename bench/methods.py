"""The ensemble methods side by side, on finished runs of ``bench/tables.py``.

Each table's run (``<output>/<table>/run``, its study, stored out-of-fold predictions and fold
models) is copied, and its final model made again from the same candidates with
``ensemble.method`` ``stack``, ``greedy`` and ``auto``; nothing is trained. Each is scored out of
fold (the figure the run itself would report: the stacker's and, under ``auto``, greedy weights
chosen without each fold's rows; greedy alone, scored on the rows its weights were chosen on) and
on the table's ``holdout.csv``, which no model saw, by the one per-row log-loss of the benches.

    .venv/bin/python bench/methods.py [--output bench/out/tables] [--tables loanapp,...]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import optuna
import pandas as pd
from _peer import row_losses
from tables import TABLES, finished_runs, runs_parser

from automl.data import load_dataset
from automl.keras import LocalBackend
from automl.recipe import load_recipe
from automl.results import best_bundle
from automl.run import RunFolder
from automl.tuning import train_settings

METHODS = ("stack", "greedy", "auto")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, make each table's ensemble with each method, print one row per table."""
    parser = runs_parser(__doc__)
    found = finished_runs(parser, parser.parse_args(argv))
    cells = " | ".join(f"{m} out of fold | {m} holdout" for m in METHODS)
    print(f"| table | {cells} | auto chose |")
    print("|---" * (2 * len(METHODS) + 2) + "|")
    for table_dir in found:
        scores = compare(table_dir, TABLES[table_dir.name].target)
        row = " | ".join(f"{scores[m][0]:.4f} | {scores[m][1]:.4f}" for m in METHODS)
        print(f"| {table_dir.name} | {row} | {scores['auto'][2]} |", flush=True)
    return 0


def compare(table_dir: Path, target: str) -> dict[str, tuple[float, float, str]]:
    """Per method: the ensemble's out-of-fold log-loss, its holdout log-loss, and the method
    it ended as, on a copy of the run in ``table_dir``."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "run"
        shutil.copytree(table_dir / "run", work)
        shutil.copy(table_dir / "train.csv", Path(scratch) / "train.csv")  # ../train.csv
        recipe = load_recipe(work / "recipe.yaml")
        study = optuna.load_study(study_name=recipe.name, storage=RunFolder(work).default_storage)
        data = load_dataset(recipe.data)
        rows, holdout = data.split_holdout(recipe.data.holdout, recipe.search.seed)
        folds = list(rows.folds(recipe.search.folds, recipe.search.seed))
        unseen = pd.read_csv(table_dir / "holdout.csv")
        references = {n: work / n for n in ("reference", "extra_trees") if (work / n).is_dir()}
        scores = {}
        for method in METHODS:
            ensemble = recipe.ensemble.model_copy(update={"method": method})
            changed = recipe.model_copy(update={"ensemble": ensemble})
            bundle, _ = best_bundle(
                changed, study, rows, holdout, folds, LocalBackend(), train_settings(changed),
                folder=work / f"best_{method}", trials_dir=work / "trials", references=references,
            )  # fmt: skip
            assert bundle is not None, f"{table_dir.name}: the run has no candidate"
            proba = bundle.predict_proba(unseen[list(bundle.schema.columns)])
            losses = row_losses(unseen[target], proba, [str(c) for c in bundle.classes])
            out_of_fold = float(study.user_attrs["ensemble"]["log_loss"])
            scores[method] = out_of_fold, float(losses.mean()), bundle.info["ensemble_method"]
        return scores


if __name__ == "__main__":
    sys.exit(main())
