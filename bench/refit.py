"""The final model with its references refitted on every row, on finished runs of
``bench/tables.py``.

A run's ensemble holds one gradient boosting and one extra-trees model per fold, each fitted on
``(folds - 1) / folds`` of the search rows. Fitting each reference once on every row of
``train.csv``, the search rows and the run's own holdout (AutoGluon's "refit full"), gives it
more rows, while the ensemble keeps the weights (or the stacker) chosen on the fold models'
out-of-fold predictions; ``--search-rows`` fits it on the search rows only. For each table's run
(``<output>/<table>/run``), this prints the final model's log-loss on the table's
``holdout.csv``, which no model saw, and the same model with its references refitted; the
networks' fold models are kept as they are. ``--quality`` reads a finished ``bench/quality.py``
run instead (its ``--output``), scored on that run's own holdout, which is the bench's, so its
references are refitted on the search rows only.

    .venv/bin/python bench/refit.py [--output bench/out/tables] [--tables loanapp,...]
        [--search-rows]
    .venv/bin/python bench/refit.py --quality bench/out/quality
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pandas as pd
from _peer import row_losses
from tables import TABLES, finished_runs, runs_parser

from automl.data import Dataset, load_dataset
from automl.metrics import score_all
from automl.recipe import Recipe, load_recipe
from automl.results import (
    EnsembleChoice,
    ModelBundle,
    candidate_name,
    fit_reference,
    references,
)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, refit each run's references, print one row per run."""
    parser = runs_parser(__doc__)
    parser.add_argument(
        "--quality",
        type=Path,
        default=None,
        help="a bench/quality.py --output instead, scored on its run's own holdout (the bench's)",
    )
    parser.add_argument(
        "--search-rows", action="store_true", help="refit on the search rows, not the holdout's"
    )
    args = parser.parse_args(argv)
    print("| run | ensemble | holdout log-loss | references refitted | ratio |")
    print("|---|---|---|---|---|")
    if args.quality is not None:
        recipe = load_recipe(args.quality / "recipe.yaml")
        rows, holdout = split_rows(recipe, args.quality)
        if holdout is None:
            parser.error(f"{args.quality}: the run kept no holdout (data.holdout: 0)")
        bundle = ModelBundle.load(args.quality / "best")
        refitted = refit_references(bundle, rows, recipe)  # the run's holdout scores it
        before, after = (
            score_all("log_loss", holdout.target, b.predict_proba(holdout.features))["log_loss"]
            for b in (bundle, refitted)
        )
        print_row(recipe.name, bundle, before, after)
        return 0
    for table_dir in finished_runs(parser, args):
        bundle = ModelBundle.load(table_dir / "run" / "best")
        holdout = pd.read_csv(table_dir / "holdout.csv")
        recipe = load_recipe(table_dir / "run" / "recipe.yaml")
        rows, run_holdout = split_rows(recipe, table_dir / "run")
        if run_holdout is not None and not args.search_rows:
            rows = rows.joined(run_holdout)
        refitted = refit_references(bundle, rows, recipe)
        target = TABLES[table_dir.name].target
        before, after = (holdout_loss(b, holdout, target) for b in (bundle, refitted))
        print_row(table_dir.name, bundle, before, after)
    return 0


def print_row(name: str, bundle: ModelBundle, before: float, after: float) -> None:
    """One Markdown row: the run, its ensemble method, both holdout log-losses, their ratio."""
    method = bundle.info.get("ensemble_method")
    print(f"| {name} | {method} | {before:.4f} | {after:.4f} | {after / before:.3f} |", flush=True)


def split_rows(recipe: Recipe, run_dir: Path) -> tuple[Dataset, Dataset | None]:
    """The rows the run in ``run_dir`` searched on, and the run's own holdout (``None``: it kept
    none)."""
    cwd = Path.cwd()
    os.chdir(run_dir)  # the recipe names its table relative to the run folder
    try:
        return load_dataset(recipe.data).split_holdout(recipe.data.holdout, recipe.search.seed)
    finally:
        os.chdir(cwd)


def refit_references(bundle: ModelBundle, rows: Dataset, recipe: Recipe) -> ModelBundle:
    """``bundle`` with the fold models of each of ``recipe``'s references among its candidates
    replaced by that reference fitted on ``rows``, with the group's weight (under a stacker, the
    stacker's), by :meth:`automl.results.EnsembleChoice.refitted`, as the final model does."""
    choice = EnsembleChoice(bundle.info["ensemble_method"], bundle.info["ensemble"], {}, {})
    fitted = {
        name: fit_reference(reference, rows)
        for reference in references(recipe)
        if (name := candidate_name(reference.name)) in choice.weights
    }
    members = choice.refitted(bundle.members, fitted)
    return ModelBundle(members, bundle.classes, bundle.schema, stacker=bundle.stacker)


def holdout_loss(bundle: ModelBundle, holdout: pd.DataFrame, target: str) -> float:
    """The bundle's mean per-row log-loss on ``holdout``."""
    proba = bundle.predict_proba(holdout[list(bundle.schema.columns)])
    return float(row_losses(holdout[target], proba, [str(c) for c in bundle.classes]).mean())


if __name__ == "__main__":
    sys.exit(main())
