"""Faults inside a trial are recorded on the leaderboard with their reason; the search goes on."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from automl import search
from automl.cli import cli
from automl.keras import LocalBackend
from automl.plugins import LOAD_PLUGINS_ENV, registry
from automl.recipe import load_recipe
from automl.run import run_recipe


def test_a_trial_past_its_time_limit_fails_with_the_reason_and_the_search_goes_on(
    recipe_dict,
) -> None:
    """Without the limit each trial would train 2 folds x 2,000 epochs (minutes)."""
    recipe = load_recipe(
        recipe_dict,
        {
            "search.trials": 2,
            "search.trial_timeout": "1s",
            "training.max_epochs": 2000,
            "training.early_stopping.patience": 2000,
        },
    )
    assert recipe.search.trial_timeout == 1
    result = run_recipe(recipe, LocalBackend(), report=False)

    board = result.leaderboard
    assert list(board["state"]) == ["failed", "failed"]
    for reason in board["reason"]:
        assert reason == (
            "TrialTimedOut: exceeded the per-trial time limit of 1s (search.trial_timeout)"
        )
    assert result.best is None and result.stopped == ""
    trials = result.study.trials
    assert all((t.datetime_complete - t.datetime_start).total_seconds() < 20 for t in trials)
    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["trials"] == {"fail": 2}


def test_nan_loss_is_recorded_and_the_search_goes_on(recipe_dict) -> None:
    """SGD at a learning rate of 1e30 overflows float32: every trial fails, saying when."""
    space = {
        **recipe_dict["space"],
        "activation": "relu",
        "optimizer": "sgd",
        "learning_rate": 1e30,
    }
    recipe = load_recipe({**recipe_dict, "space": space}, {"search.trials": 2})
    result = run_recipe(recipe, LocalBackend(), report=False)
    assert list(result.leaderboard["state"]) == ["failed", "failed"]
    assert all("loss became NaN at epoch" in r for r in result.leaderboard["reason"])
    assert result.stopped == ""


@pytest.fixture
def broken_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An installed plugin ``automl-broken`` whose module raises on import."""
    from test_plugins import install

    site = tmp_path / "site"
    site.mkdir()
    install(site, "automl-broken", "automl_broken", "raise ImportError('needs gpu-magic')\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(LOAD_PLUGINS_ENV, raising=False)
    registry.cache_clear()
    yield
    registry.cache_clear()


BROKEN = "plugin 'automl_broken' (automl-broken) failed to load: needs gpu-magic"


def test_a_plugin_that_fails_to_import_is_recorded_and_the_search_goes_on(
    broken_plugin: None, recipe_dict: dict
) -> None:
    recipe_dict["search"]["trials"] = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = search(recipe_dict)
    assert f"{BROKEN}; searching with backend 'local'" in [str(w.message) for w in caught]
    assert result.best is not None
    run = json.loads((result.run_dir / "run.json").read_text())
    assert {
        "entry_point": "automl_broken",
        "package": "automl-broken",
        "error": "needs gpu-magic",
    } in run["failed_plugins"]


def test_choosing_the_backend_of_a_plugin_that_failed_is_one_line(
    broken_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sample_tables import make_table

    monkeypatch.chdir(tmp_path)
    make_table().to_csv("train.csv", index=False)
    Path("recipe.yaml").write_text("name: b\ndata: {train: train.csv, target: label}\n")
    result = CliRunner().invoke(cli, ["search", "recipe.yaml", "--backend", "broken"])
    assert result.exit_code == 2, result.output
    assert result.output == f"Error: backend.name: backend 'broken' is not available: {BROKEN}\n"
    assert not Path("runs").exists()
