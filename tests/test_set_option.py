"""``--set section.field=value`` on ``automl validate`` and ``automl search``, and the Python
API's ``overrides`` (refusals are cases of the bad input corpus: ``tests/bad_inputs/set-*``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_bad_inputs_corpus import lay_out, run_in

import automl
from automl.errors import UserError
from automl.recipe import parse_overrides


def test_values_are_read_as_yaml_and_the_last_setting_wins() -> None:
    settings = ["search.trials=5", "space.layers=[1, 2]", "search.timeout=3m", "data.test="]
    assert parse_overrides([*settings, "search.trials=7", "backend.options={a: 1}"]) == {
        "search.trials": 7,
        "space.layers": [1, 2],
        "search.timeout": "3m",
        "data.test": None,
        "backend.options": {"a": 1},
    }
    with pytest.raises(UserError, match=r"^--set 'search.=5': expected section.field=value"):
        parse_overrides(["search.=5"])


def test_validate_shows_the_overridden_recipe(tmp_path: Path) -> None:
    lay_out(tmp_path, None)
    code, out, err = run_in(
        tmp_path,
        "validate",
        "recipe.yaml",
        "--set",
        "search.trials=4",
        "--set",
        "space.units=[4, 8]",
        "--set",
        "training.final_model=ensemble",
    )
    assert code == 0, err
    lines = [line.split() for line in out.splitlines()]
    assert ["units", "(each", "layer)", "one", "of", "4,", "8"] in lines
    assert "Budget: 4 trials;" in out and "final model: ensemble." in out


def test_search_records_the_overrides_in_run_json(tmp_path: Path) -> None:
    lay_out(tmp_path, None)
    code, _, err = run_in(
        tmp_path, "search", "recipe.yaml", "-q", "--set", "data.holdout=0.25", "--seed", "4"
    )
    assert code == 0, err
    recipe = json.loads((tmp_path / "run" / "run.json").read_text())["recipe"]
    assert recipe["data"]["holdout"] == 0.25 and recipe["search"]["seed"] == 4
    overrides = {"training.max_epochs": 2, "search.seed": 9}
    again = automl.search(recipe, overrides=overrides, seed=5, output=tmp_path / "py")
    recorded = json.loads((again.run_dir / "run.json").read_text())["recipe"]
    assert recorded["training"]["max_epochs"] == 2
    assert recorded["search"]["seed"] == 5  # the keyword wins over the same field in overrides
