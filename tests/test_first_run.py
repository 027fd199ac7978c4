"""The first run on a new table: no recipe, a preset, a time budget for the whole call, and a
model from the references before any network completes."""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

import automl
from automl.cli import cli
from automl.errors import UserError
from automl.recipe import PRESETS, load_recipe, preset_fields, table_recipe
from automl.run import RunFolder
from automl.run._budget import READ_BACK, REFIT_PER_FOLD, WRITING_SECONDS, CallBudget
from automl.tuning import record

# A quick network and two epochs: the first run's machinery, not its quality.
QUICK = [
    "--set", "search.trials=1", "--set", "training.max_epochs=2",
    "--set", "space.layers=1", "--set", "space.units=8", "--set", "space.batch_size=32",
]  # fmt: skip


@pytest.fixture
def churn(tmp_path: Path) -> Path:
    from sample_tables import make_table

    path = tmp_path / "churn data.csv"
    make_table().to_csv(path, index=False)
    return path


def test_a_table_searched_without_a_recipe_writes_its_recipe_which_runs_again(
    churn: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = CliRunner().invoke(
        cli, ["search", churn.name, "--target", "label", "--id", "id", "--preset", "fast", *QUICK]
    )
    assert first.exit_code == 0, first.output
    run_dir = tmp_path / "runs" / "churn-data"  # named after the file
    assert f"Best model: {Path('runs/churn-data/best')}" in first.output
    written = yaml.safe_load((run_dir / "recipe.yaml").read_text())
    assert written["data"] == {"train": "../../churn data.csv", "target": "label", "id": "id"}
    assert written["reference"] == {"enabled": True}
    assert written["training"]["final_model"] == "ensemble"
    assert written["search"]["trials"] == 1  # --set is part of the resolved recipe
    board = pd.read_csv(run_dir / "leaderboard.csv")
    assert {"reference", "complete", "ensemble"} <= set(board["state"])

    again = CliRunner().invoke(cli, ["search", str(run_dir / "recipe.yaml")])
    assert again.exit_code == 0, again.output
    study = optuna.load_study(study_name="churn-data", storage=RunFolder(run_dir).default_storage)
    assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 2  # continued


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "fast"], "a data table needs target, the column to predict"),
        (["--target", "label", "--set", "search.folds=three"], "search.folds"),
        (["--target", "nope"], "nope"),
    ],
)
def test_a_table_without_what_it_needs_is_one_line_and_status_2(
    churn: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(
        cli, ["search", str(churn), "--output", str(tmp_path / "run"), *args]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "best").exists()


def test_a_recipe_refuses_the_table_options(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\ndata: {train: t.csv, target: y}\n")
    result = CliRunner().invoke(cli, ["search", str(recipe), "--target", "y"])
    assert result.exit_code == 2
    assert "target goes with a data table" in result.output


def test_presets_spend_the_budget_differently_and_fold_by_the_table_size() -> None:
    fast, good, best = (preset_fields(name, rows=5_000) for name in PRESETS)
    assert [p["search"]["timeout"] for p in (fast, good, best)] == ["1m", "10m", "1h"]
    assert good["ensemble"]["method"] == "auto" and good["extra_trees"]["enabled"]
    assert fast["search"]["folds"] < good["search"]["folds"] < best["search"]["folds"]
    assert preset_fields("good", rows=200_000)["search"]["folds"] == 3
    assert preset_fields("good", rows=500, smallest_class=4)["search"]["folds"] == 3
    assert preset_fields("best", rows=500, smallest_class=1)["search"]["folds"] == 2
    with pytest.raises(UserError, match="unknown preset 'quick'; choose fast, good, best"):
        preset_fields("quick")


def test_good_and_best_add_catboost_on_small_tables_where_it_is_installed(monkeypatch) -> None:
    small = [preset_fields(name, rows=5_000) for name in PRESETS]
    assert [fields.get("catboost") for fields in small] == [
        None,
        {"enabled": True},
        {"enabled": True},
    ]
    assert "catboost" not in preset_fields("good", rows=10_001)  # Otto-sized: slow, no better
    assert "catboost" not in preset_fields("good")  # a mid-sized table
    monkeypatch.setitem(sys.modules, "catboost", None)  # as on a machine without it
    assert "catboost" not in preset_fields("good", rows=5_000)


def test_init_writes_the_default_preset() -> None:
    template = yaml.safe_load(
        resources.files("automl").joinpath("templates/recipe.yaml").read_text()
    )
    good = preset_fields("good")  # a mid-sized table's folds
    written = load_recipe(template).model_dump(mode="json")
    preset = load_recipe({"name": "x", "data": {"target": "y"}, **good}).model_dump(mode="json")
    for section, fields in good.items():
        for field in fields:
            assert written[section][field] == preset[section][field], f"{section}.{field}"


def test_table_recipe_loads_and_names_the_run_after_the_file(churn: Path) -> None:
    recipe = load_recipe(table_recipe(churn, "label", id_column="id"))
    assert recipe.name == "churn-data" and recipe.data.id == "id"
    assert recipe.search.timeout == 600 and recipe.search.trials is None
    assert recipe.search.folds == 5  # 90 rows, 30 of each class


def test_the_python_api_takes_a_table(churn: Path, tmp_path: Path) -> None:
    result = automl.search(
        churn,
        target="label",
        preset="fast",
        output=tmp_path / "run",
        overrides={"search.trials": 1, "training.max_epochs": 2, "space.layers": 1},
    )
    assert result.best is not None
    assert (tmp_path / "run" / "recipe.yaml").is_file()
    with pytest.raises(UserError, match="preset goes with a data table"):
        automl.search({"name": "x", "data": {"target": "y"}}, preset="best")


def test_a_trial_past_the_time_budget_stops_and_the_references_make_the_model(
    churn: Path, tmp_path: Path
) -> None:
    """A network that would train for 10,000 epochs is stopped at an epoch end once the budget
    for trials is spent; the ensemble of the references is the run's model all the same."""
    result = automl.search(
        churn,
        target="label",
        preset="fast",
        time=20,  # enough for the references on a busy machine, not for 10,000 epochs
        output=tmp_path / "run",
        overrides={
            "training.max_epochs": 10_000,
            "training.early_stopping.patience": 10_000,
            "space.batch_size": 8,
            "space.layers": 1,
        },
    )
    failed = [t for t in result.study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed, "the first trial should have been stopped"
    assert (
        "search's time budget (search.timeout) ran out" in failed[0].user_attrs[record.FAIL_REASON]
    )
    assert result.best is not None and result.best.info["trial"] is None
    assert "reference" in result.best.info["architecture"]


def test_the_reserve_grows_with_what_the_run_measures(tmp_path: Path) -> None:
    recipe = load_recipe({"name": "x", "data": {"target": "y"}, "search": {"timeout": 60}})
    study = optuna.create_study()
    budget = CallBudget.start(recipe, RunFolder(tmp_path), began=100.0)
    assert budget.deadline == 160.0
    budget.study = study
    assert budget.reserve() == WRITING_SECONDS  # nothing measured yet
    trial = optuna.trial.create_trial(
        value=0.5, user_attrs={record.SECONDS: 12.0, record.FOLD_VALUES: [0.5, 0.5, 0.5]}
    )
    study.add_trial(trial)
    assert budget.reserve() == pytest.approx(WRITING_SECONDS + REFIT_PER_FOLD * 4.0)
    assert budget.trials_end() == 160.0 - WRITING_SECONDS  # read every epoch: not yet remeasured
    budget.remeasure()
    assert budget.trials_end() == pytest.approx(160.0 - budget.reserve())
    ensemble = load_recipe(
        {"name": "x", "data": {"target": "y"}, "search": {"timeout": 60},
         "training": {"final_model": "ensemble"}, "ensemble": {"candidates": 2}}
    )  # fmt: skip
    kept = CallBudget(160.0, ensemble, study, kept_seconds=[1.0, 3.0, 2.0])
    assert kept.reserve() == pytest.approx(WRITING_SECONDS + READ_BACK * 5.0)  # the best two
    with_reference = load_recipe(ensemble, {"reference.enabled": True})
    study.set_user_attr("reference", {record.WRITE_SECONDS: 4.0})  # as ensure_reference writes
    joined = CallBudget(160.0, with_reference, study, kept_seconds=[1.0, 3.0, 2.0])
    assert joined.reserve() == pytest.approx(WRITING_SECONDS + READ_BACK * 9.0)
    bagged = CallBudget(
        160.0,
        load_recipe(with_reference, {"ensemble.seeds": 3}),
        study,
        kept_seconds=[1.0, 3.0, 2.0],
    )  # the best trial's 12 s again for each of two more seeds, which must end before the rest
    assert bagged.reserve() == pytest.approx(WRITING_SECONDS + READ_BACK * 9.0 + 2 * 12.0)
    assert bagged.bagging_end() == pytest.approx(160.0 - WRITING_SECONDS - READ_BACK * 9.0)
    fitted = {record.SECONDS: 10.0, record.WRITE_SECONDS: 4.0, record.FOLD_VALUES: [0.5, 0.5]}
    study.set_user_attr("reference", fitted)  # 6 s of fitting on 2 folds
    refit = load_recipe(with_reference, {"ensemble.refit_references": True})
    refitting = CallBudget(160.0, refit, study, kept_seconds=[1.0, 3.0, 2.0])
    assert refitting.reserve() == pytest.approx(  # on every row: 1/0.8 of the search rows
        WRITING_SECONDS + READ_BACK * 9.0 + REFIT_PER_FOLD * 3.0 / 0.8
    )
    (tmp_path / "run.json").write_text(json.dumps({"seconds": {"final_model": 40.0}}))
    continued = CallBudget.start(ensemble, RunFolder(tmp_path), began=0.0)
    assert continued.reserve() == WRITING_SECONDS + 40.0  # the last call's final model
