"""``run.json``: what a run was (recipe, versions) and what it did (timings, trials, scores)."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import datetime, timezone
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState

from automl._files import write_text
from automl._version import library_versions
from automl.events import Stop, StopReason
from automl.plugins import registry
from automl.recipe import Recipe
from automl.run._folder import RunFolder
from automl.tuning import hide_password
from automl.tuning import record as record_keys


def machine() -> dict[str, Any]:
    """The platform, CPU count and the accelerators TensorFlow sees (when it is loaded)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "accelerators": _accelerators(),
    }


def _accelerators() -> list[dict[str, str]] | None:
    """GPUs/TPUs as TensorFlow lists them; ``None`` when this process never loaded TensorFlow."""
    if "tensorflow" not in sys.modules:
        return None
    import tensorflow as tf

    found = []
    for device in tf.config.list_physical_devices():
        if device.device_type == "CPU":
            continue
        details = tf.config.experimental.get_device_details(device)
        found.append(
            {
                "name": device.name,
                "type": device.device_type,
                "model": str(details.get("device_name", "")),
            }
        )
    return found


def seeds(recipe: Recipe) -> dict[str, Any]:
    """Every seed the run used, all derived from ``search.seed``."""
    seed = recipe.search.seed
    return {
        "search.seed": seed,
        "sampler": seed,
        "holdout_and_folds": seed,
        "fold_training": [seed + fold for fold in range(recipe.search.folds)],
        "final_model": seed,
    }


def recorded_recipe(recipe: Recipe) -> dict[str, Any]:
    """The recipe as given, overrides applied and paths resolved (it loads again as it is),
    with any database password masked."""
    given = recipe.model_dump(mode="json", exclude_unset=True)
    search = given.get("search", {})
    if search.get("storage"):
        search["storage"] = hide_password(search["storage"])
    return given


def write_recipe_file(folder: RunFolder, recipe: Recipe) -> None:
    """Write ``recipe.yaml``: :func:`recorded_recipe` with its data paths relative to the run
    folder, so that ``automl search <run folder>/recipe.yaml`` continues the run."""
    given = recorded_recipe(recipe)
    data = given["data"]
    for field in ("train", "test"):
        if data.get(field):
            data[field] = os.path.relpath(data[field], folder.path.resolve())
        else:
            data.pop(field, None)
    header = (
        "# The recipe of this run, resolved: edit it, then `automl search` this file to continue "
        "the run\n# (or --fresh to start over). Fields not listed keep their defaults; "
        "`automl init` writes them all.\n"
    )
    write_text(folder.recipe, header + yaml.safe_dump(given, sort_keys=False))


def write_run_file(
    folder: RunFolder,
    recipe: Recipe,
    study: optuna.Study,
    storage: str,
    started: datetime,
    seconds: dict[str, float],
    holdout: dict[str, float] | None,
    stop: Stop,
    importance: dict[str, Any] | None,
) -> dict[str, Any]:
    """Write ``run.json``: the recipe, timings, trial counts, best trial, holdout scores, the
    best model's feature importance on the holdout rows, versions; return what it holds."""
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
        "interrupted": stop.reason is StopReason.INTERRUPTED,
        "stopped": str(stop),
        "trials": states,
        "best": None
        if best is None
        else {
            "trial": best.number,
            "value": best.value,
            "architecture": best.user_attrs.get(record_keys.ARCHITECTURE),
        },
        "holdout": holdout,
        "importance": importance,
        "seeds": seeds(recipe),
        "versions": library_versions(),
        "machine": machine(),
        "failed_plugins": [failure.__dict__ for failure in registry().failures],
    }
    write_text(folder.record, json.dumps(record, indent=2) + "\n")
    return record
