"""``automl.search``: a recipe and its overrides in, a finished (or continued) search out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from automl.events import Progress
from automl.plugins import registry
from automl.recipe import Recipe, load_recipe
from automl.results import SearchResult
from automl.run._pipeline import run_recipe


def search(
    recipe: str | Path | dict[str, Any] | Recipe,
    *,
    trials: int | None = None,
    timeout: str | int | None = None,
    trial_timeout: str | int | None = None,
    parallel: int | None = None,
    storage: str | None = None,
    backend: str | None = None,
    output: str | Path | None = None,
    seed: int | None = None,
    fresh: bool = False,
    progress: Progress | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> SearchResult:
    """Run (or continue) the search a recipe describes and return its result.

    Keyword arguments override the recipe's fields; ``overrides`` maps any other dotted field
    (``{"training.final_model": "ensemble"}``) to its value, and the keyword arguments win over
    it. Running the same recipe again continues the study in its run folder with more trials;
    ``fresh=True`` starts over.

    Example:
        >>> result = automl.search("recipes/quickstart.yaml", trials=5)  # doctest: +SKIP
        >>> result.leaderboard.head()  # doctest: +SKIP
        >>> result.best.predict_proba(frame)  # doctest: +SKIP
    """
    given = {
        "search.trials": trials,
        "search.timeout": timeout,
        "search.trial_timeout": trial_timeout,
        "search.parallel": parallel,
        "search.storage": storage,
        "backend.name": backend,
        "output": output,
        "search.seed": seed,
    }
    keywords = {k: v for k, v in given.items() if v is not None}
    loaded = load_recipe(recipe, {**(overrides or {}), **keywords})
    chosen = registry().backend(loaded.backend.name).create(loaded.backend.options)
    try:
        return run_recipe(loaded, chosen, fresh=fresh, progress=progress)
    finally:
        chosen.close()
