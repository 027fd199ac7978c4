"""Presets: whole recipes for a table nobody has written a recipe for (``automl search data.csv
--target y``), and the recipe ``automl init`` writes.

A preset fixes how the time budget is spent, never the search space: ``fast`` gives a usable model
in about a minute, ``good`` (the default) the best model for its budget on a table it has never
seen, ``best`` spends a longer budget on more folds and bags its best network over three seeds.
Every preset trains the gradient boosting reference first, so a model at least as good as
HistGradientBoosting's defaults is on the leaderboard within seconds, starts its search with the
default space's portfolio of networks (``portfolio.json``, chosen by ``bench/portfolio.py`` over
many tables, none of them Otto) before TPE takes over, and finishes with an ensemble of the
references and the networks. ``good`` and ``best`` add the CatBoost reference on tables of up to
:data:`CATBOOST_MOST_ROWS` rows where the optional catboost package is installed: there it beat
HistGradientBoosting out of fold in seconds, while on Otto's 50,000 rows it took six times as long
and scored worse (``bench/boosters.py``).
"""

from __future__ import annotations

import functools
import json
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any, TypeGuard

from automl.errors import UserError
from automl.recipe._schema import installed

DEFAULT_PRESET = "good"
TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")

# Per preset: the fields it sets, and the folds for (at most so many rows, folds), smallest first;
# small tables get more folds, because their out-of-fold scores are noisy and their folds cheap.
_PRESETS: dict[str, dict[str, Any]] = {
    "fast": {
        "search": {"timeout": "1m", "trials": None},
        "training": {"final_model": "ensemble", "max_epochs": 30},
        "ensemble": {"method": "greedy"},
        "reference": {"enabled": True},
    },
    "good": {
        "search": {"timeout": "10m", "trials": None},
        "training": {"final_model": "ensemble"},
        "ensemble": {"method": "auto", "refit_references": True},
        "reference": {"enabled": True},
        "extra_trees": {"enabled": True},
    },
    "best": {
        "search": {"timeout": "1h", "trials": None},
        "training": {"final_model": "ensemble", "max_epochs": 100},
        "ensemble": {"method": "auto", "candidates": 20, "seeds": 3, "refit_references": True},
        "reference": {"enabled": True},
        "extra_trees": {"enabled": True},
    },
}
_FOLDS: dict[str, tuple[tuple[int, int], ...]] = {
    "fast": ((2_000, 5), (2**62, 3)),
    "good": ((10_000, 5), (2**62, 3)),
    "best": ((10_000, 10), (100_000, 8), (2**62, 5)),
}
# The presets that add the CatBoost reference, on tables of at most so many rows.
_WITH_CATBOOST = ("good", "best")
CATBOOST_MOST_ROWS = 10_000
PRESETS = tuple(_PRESETS)
_HOLDOUT = 0.2  # the recipe's default data.holdout


def preset_fields(
    preset: str, rows: int | None = None, smallest_class: int | None = None
) -> dict[str, Any]:
    """The recipe sections ``preset`` sets (a new dict), with its folds for a table of ``rows``
    rows (``None``: the folds of a mid-sized table), never more than the search rows of the
    smallest class (at least 2), and the CatBoost reference where the preset adds it.

    Raises:
        automl.errors.UserError: ``preset`` is not one of :data:`PRESETS`.

    Example:
        >>> preset_fields("good", rows=500)["search"]["folds"]
        5
    """
    if preset not in _PRESETS:
        raise UserError(f"preset: unknown preset '{preset}'; choose {', '.join(PRESETS)}")
    fields = {section: dict(values) for section, values in _PRESETS[preset].items()}
    size = 50_000 if rows is None else rows
    folds = next(folds for most, folds in _FOLDS[preset] if size <= most)
    if smallest_class is not None:  # the search sees (1 - holdout) of each class
        folds = max(2, min(folds, math.floor(smallest_class * (1 - _HOLDOUT))))
    fields["search"]["folds"] = folds
    if preset in _WITH_CATBOOST and size <= CATBOOST_MOST_ROWS and installed("catboost"):
        fields["catboost"] = {"enabled": True}
    fields["space"] = {"warm_start": portfolio()}
    return fields


@functools.cache
def _portfolio_file() -> dict[str, Any]:
    return json.loads(resources.files("automl.recipe").joinpath("portfolio.json").read_text())


def portfolio() -> list[dict[str, Any]]:
    """The networks every preset's search starts with, in order: parameters of the default
    search space (a new list; ``bench/portfolio.py`` chose them and says how)."""
    return [dict(params) for params in _portfolio_file()["warm_start"]]


def is_table(source: object) -> TypeGuard[str | Path]:
    """Whether ``source`` names a data table (CSV, gzipped CSV or Parquet) rather than a recipe."""
    return isinstance(source, (str, Path)) and str(source).lower().endswith(TABLE_SUFFIXES)


def table_recipe(
    table: Path, target: str, *, id_column: str | None = None, preset: str = DEFAULT_PRESET
) -> dict[str, Any]:
    """The whole recipe for searching ``table`` with ``preset``: named after the file, folds by
    its row count.

    Raises:
        automl.errors.UserError: the file is missing, or ``preset`` is unknown.
    """
    if not table.is_file():
        raise UserError(f"{table}: data file not found")
    recipe: dict[str, Any] = {
        "name": _run_name(table),
        "data": {"train": str(table.resolve()), "target": target},
    }
    sizes = _class_sizes(table, target)
    fields = preset_fields(preset, sum(sizes) if sizes else None, min(sizes) if sizes else None)
    recipe.update(fields)
    if id_column is not None:
        recipe["data"]["id"] = id_column
    return recipe


def _run_name(table: Path) -> str:
    """A recipe name from the file's name: ``churn 2024.csv.gz`` → ``churn-2024``."""
    stem = table.name
    for suffix in sorted(TABLE_SUFFIXES, key=len, reverse=True):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-._")
    return name or "table"


def _class_sizes(table: Path, target: str) -> list[int] | None:
    """The row count of each class of ``target`` in ``table``, read from that column alone
    (``None`` when it cannot be read: loading the data reports that properly)."""
    import pandas as pd

    try:
        if table.name.lower().endswith((".parquet", ".pq")):
            column = pd.read_parquet(table, columns=[target])[target]
        else:
            column = pd.read_csv(table, usecols=[target])[target]
    except (OSError, ValueError, KeyError, ImportError, pd.errors.ParserError):
        return None
    return column.value_counts().tolist()
