"""``automl.search``: a recipe and its overrides in, a finished (or continued) search out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from time import monotonic
from typing import Any

from automl.errors import UserError
from automl.events import Progress
from automl.plugins import registry
from automl.recipe import DEFAULT_PRESET, Recipe, is_table, load_recipe, table_recipe
from automl.results import SearchResult
from automl.run._pipeline import run_recipe


def search(
    source: str | Path | dict[str, Any] | Recipe,
    *,
    target: str | None = None,
    id: str | None = None,
    preset: str | None = None,
    trials: int | None = None,
    time: str | int | None = None,
    trial_timeout: str | int | None = None,
    parallel: int | None = None,
    storage: str | None = None,
    backend: str | None = None,
    output: str | Path | None = None,
    seed: int | None = None,
    fresh: bool = False,
    progress: Progress | None = None,
    overrides: Mapping[str, Any] | None = None,
    began: float | None = None,
) -> SearchResult:
    """Run (or continue) the search a recipe, or a data table with a preset, describes; return
    its result.

    ``source`` is a recipe (a YAML path, a dict or a :class:`Recipe`) or a data table (``.csv``,
    ``.csv.gz``, ``.parquet``): a table is searched with ``preset`` (``fast``, ``good`` (the
    default) or ``best``) for the column ``target``, ``id`` naming a column carried into
    predictions. The resolved recipe is written into the run folder as ``recipe.yaml``.
    ``time`` (``"10m"``, or seconds) bounds the whole call, the final model and its files
    included (``search.timeout``).

    Keyword arguments override the recipe's fields; ``overrides`` maps any other dotted field
    (``{"training.final_model": "ensemble"}``) to its value, and the keyword arguments win over
    it. ``began`` is the :func:`time.monotonic` time the caller's work began, when the time
    budget should count it too (the command line's start). Running the same recipe again
    continues the study in its run folder with more trials;
    ``fresh=True`` starts over.

    Example:
        >>> result = automl.search("churn.csv", target="churned", time="3m")  # doctest: +SKIP
        >>> result = automl.search("recipes/quickstart.yaml", trials=5)  # doctest: +SKIP
        >>> result.leaderboard.head()  # doctest: +SKIP
        >>> result.best.predict_proba(frame)  # doctest: +SKIP
    """
    began = monotonic() if began is None else began
    given = {
        "search.trials": trials,
        "search.timeout": time,
        "search.trial_timeout": trial_timeout,
        "search.parallel": parallel,
        "search.storage": storage,
        "backend.name": backend,
        "output": output,
        "search.seed": seed,
    }
    keywords = {k: v for k, v in given.items() if v is not None}
    if is_table(source):
        if target is None:
            raise UserError(f"{source}: a data table needs target, the column to predict")
        chosen_preset = preset or DEFAULT_PRESET
        source = table_recipe(Path(source), target, id_column=id, preset=chosen_preset)
    else:
        given_for_tables = [n for n, v in (("target", target), ("id", id), ("preset", preset)) if v]
        if given_for_tables:
            raise UserError(
                f"{given_for_tables[0]} goes with a data table (.csv, .csv.gz, .parquet); "
                f"a recipe sets data.target, data.id and its budget itself"
            )
    loaded = load_recipe(source, {**(overrides or {}), **keywords})
    chosen = registry().backend(loaded.backend.name).create(loaded.backend.options)
    try:
        return run_recipe(loaded, chosen, fresh=fresh, progress=progress, began=began)
    finally:
        chosen.close()
