"""``run.json``: what a run was (recipe, versions) and what it did (timings, trials, scores)."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from automl._files import write_text
from automl.recipe import Recipe
from automl.search import INTERRUPTED
from automl.study import hide_password

RUN_FILE = "run.json"
_VERSIONED = ("automl", "tensorflow", "keras", "optuna", "scikit-learn", "numpy", "pandas")


def library_versions() -> dict[str, str]:
    """Python and the versions of the libraries a model depends on."""
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def recorded_recipe(recipe: Recipe) -> dict[str, Any]:
    """The recipe as given, overrides applied and paths resolved (it loads again as it is),
    with any database password masked."""
    given = recipe.model_dump(mode="json", exclude_unset=True)
    search = given.get("search", {})
    if search.get("storage"):
        search["storage"] = hide_password(search["storage"])
    return given


def write_run_file(
    run_dir: Path,
    recipe: Recipe,
    study: optuna.Study,
    storage: str,
    started: datetime,
    seconds: dict[str, float],
    holdout: dict[str, float] | None,
    stopped: str,
) -> None:
    """Write ``run.json``: the recipe, timings, trial counts, best trial, holdout, versions."""
    trials = study.get_trials(deepcopy=False)
    states: dict[str, int] = {}
    for trial in trials:
        states[trial.state.name.lower()] = states.get(trial.state.name.lower(), 0) + 1
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = study.best_trial if complete else None
    record = {
        "recipe": recorded_recipe(recipe),
        "study": recipe.name,
        "storage": hide_password(storage),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": seconds,
        "interrupted": stopped == INTERRUPTED,
        "stopped": stopped,
        "trials": states,
        "best": None
        if best is None
        else {
            "trial": best.number,
            "value": best.value,
            "architecture": best.user_attrs.get("architecture"),
        },
        "holdout": holdout,
        "versions": library_versions(),
    }
    write_text(run_dir / RUN_FILE, json.dumps(record, indent=2) + "\n")
