"""spark-trials on a real local[2] Spark: two trials at once, each fold a Spark task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState

import automl
from automl.plugins import registry
from automl.recipe import load_recipe
from automl.results import ModelBundle, load_oof
from automl.run import RunFolder, run_recipe
from automl.testing import tiny_table
from automl_spark import SparkTrialsBackend


class PoolRecorder:
    """A plugin that wraps the make_trial_pool hook and keeps the pools the plugins made."""

    def __init__(self) -> None:
        self.pools: list[Any] = []

    @automl.hookimpl(hookwrapper=True)
    def make_trial_pool(self, backend: Any, options: Any, workers: int, job: Any) -> Any:
        made = yield
        self.pools.append(made.get_result())


def test_the_entry_point_registers_spark_trials() -> None:
    info = registry().backend("spark-trials")
    assert info.package == "automl-spark" and info.options["master"] is None


@pytest.mark.slow
def test_a_tiny_search_runs_two_trials_at_once_on_spark(spark: Any, tmp_path: Path) -> None:
    tiny_table().to_csv(tmp_path / "train.csv", index=False)
    recipe = load_recipe(
        {
            "name": "spark-trials",
            "data": {"train": str(tmp_path / "train.csv"), "target": "label", "id": "id"},
            "search": {"trials": 4, "folds": 2, "parallel": 2, "pruner": "none"},
            "space": {"hidden_units": [8], "learning_rate": {"low": 0.001, "high": 0.05}},
            "training": {"max_epochs": 2, "final_model": "ensemble"},
            "backend": {"name": "spark-trials"},
            "output": str(tmp_path / "run"),
        }
    )
    backend, recorder = SparkTrialsBackend(), PoolRecorder()
    registry().manager.register(recorder)
    try:
        result = run_recipe(recipe, backend, report=False)
    finally:
        registry().manager.unregister(recorder)
        backend.close()
    (pool,) = recorder.pools
    trials = result.study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert trials[1].datetime_start < trials[0].datetime_complete  # two in flight at once
    assert all(len(t.user_attrs["fold_values"]) == 2 for t in trials)
    assert len({t.params["learning_rate"] for t in trials}) == 4
    assert spark.sparkContext.statusTracker().getActiveJobsIds() == []  # every fold's job ended
    assert pool.tag.startswith("automl-trials-")
    # the executors packed their fold models: the ensemble chose among every trial's
    best = ModelBundle.load(result.run_dir / "best")
    assert best.info["trial"] == result.study.best_trial.number
    assert best.info["ensemble_method"] == "greedy" and best.info["ensemble"]
    kept = [folder for folder in RunFolder(result.run_dir).trials.iterdir() if folder.is_dir()]
    assert len(kept) == 4 and all(load_oof(folder) is not None for folder in kept)
    assert json.loads((result.run_dir / "run.json").read_text())["trials"] == {"complete": 4}
