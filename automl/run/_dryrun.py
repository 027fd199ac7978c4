"""What a recipe would do, without training: the resolved search space and the run's outputs."""

from __future__ import annotations

import os
from typing import Any

from automl.recipe import Choices, FloatRange, IntRange, Recipe
from automl.results import references
from automl.run._folder import RunFolder

# Dimensions that only apply when the recipe does not give ``hidden_units``.
_SHAPE = ("layers", "units")


def describe_space(recipe: Recipe) -> list[tuple[str, str]]:
    """One ``(name, description)`` per dimension, e.g. ``("units", "integer 32 to 512, log")``.

    A searched dimension says what Optuna draws from; a fixed one says ``fixed <value>``.
    ``units`` is drawn once per layer (``units_1``, ``units_2``, ...).
    """
    space = recipe.space
    rows = []
    for name in type(space).model_fields:
        value = getattr(space, name)
        if name == "hidden_units":
            if value is not None:
                rows.append((name, f"fixed {value} ({len(value)} layers)"))
            continue
        if name in _SHAPE and space.hidden_units is not None:
            continue
        if name == "warm_start":
            if value:
                rows.append((name, f"{len(value)} trials queued first"))
            continue
        label = "units (each layer)" if name == "units" else name
        rows.append((label, describe_dimension(value)))
    return rows


def describe_dimension(value: Any) -> str:
    """A dimension in words: ``one of a, b``, ``integer 1 to 3``, ``real 0.0001 to 0.01, log``."""
    if isinstance(value, Choices):
        choices = value.choices
        return (
            f"fixed {_plain(choices[0])}"
            if len(choices) == 1
            else "one of " + ", ".join(_plain(c) for c in choices)
        )
    if isinstance(value, (IntRange, FloatRange)):
        kind = "integer" if isinstance(value, IntRange) else "real"
        words = [f"{kind} {_plain(value.low)} to {_plain(value.high)}"]
        if value.log:
            words.append("log")
        if isinstance(value, IntRange) and value.step > 1:
            words.append(f"step {value.step}")
        return ", ".join(words)
    return f"fixed {_plain(value)}"


def searched(rows: list[tuple[str, str]]) -> int:
    """How many of :func:`describe_space`'s dimensions the search varies."""
    return sum(not text.startswith("fixed") for _, text in rows)


def planned_outputs(recipe: Recipe) -> list[tuple[str, str]]:
    """What a search of ``recipe`` writes: ``(path, what)`` pairs, the run folder first.

    Raises:
        UserError: when the run folder cannot be created or written.
    """
    folder = RunFolder(recipe.run_dir)
    folder.check_writable()
    state = (
        "will be created"
        if not folder.path.is_dir()
        else "exists; a search continues its study"
        if folder.study_db.is_file()
        else "exists"
    )
    storage = recipe.search.storage
    study = f"  {folder.study_db.name}" if storage is None else f"  study in {_masked(storage)}"
    rows = [
        (f"{folder.path}{os.sep}", f"the run folder ({state})"),
        (study, "the Optuna study: every trial, resumable"),
        (
            f"  {folder.leaderboard_csv.name}, {folder.leaderboard_md.name}",
            "one row per trial, best first",
        ),
        (f"  {folder.best.name}/", "the best model bundle (automl predict)"),
        (f"  {folder.record.name}", "recipe as resolved, seeds, versions, machine, timings"),
        (f"  {folder.report.name}", "figures and the leaderboard"),
    ]
    if recipe.training.final_model == "ensemble":
        rows.append(
            (
                f"  {folder.trials.name}/",
                "each complete trial's fold models and out-of-fold predictions",
            )
        )
    for reference in references(recipe):
        rows.append(
            (
                f"  {folder.reference(reference.name).name}/",
                f"the fold models of {reference.description}",
            )
        )
    if recipe.data.test is not None:
        rows.append(
            (
                f"  {folder.predictions.name}",
                f"the best model's labels and probabilities for {recipe.data.test}",
            )
        )
    return rows


def _masked(storage: str) -> str:
    from automl.tuning import hide_password

    return hide_password(storage)


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
