"""The command line end to end: CliRunner for most commands, one real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from automl.cli import EXIT_NO_TRIAL, cli
from automl.keras import LocalBackend
from automl.plugins import BackendInfo, registry
from automl.recipe import load_recipe


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A recipe searched once through the CLI: (recipe path, run folder, printed output)."""
    from sample_tables import make_table

    folder = tmp_path_factory.mktemp("cli")
    make_table().to_csv(folder / "train.csv", index=False)
    recipe = {
        "name": "cli-tiny",
        "data": {"train": "train.csv", "target": "label", "id": "id"},
        "search": {"trials": 5, "folds": 2, "pruner": "none"},
        "space": {"layers": 1, "units": {"low": 4, "high": 8}, "batch_size": 32},
        "training": {"max_epochs": 2},
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    run_dir = folder / "out"
    result = CliRunner().invoke(
        cli, ["search", str(path), "--trials", "2", "--output", str(run_dir), "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    return path, run_dir, result.output


def test_search_prints_trials_the_leaderboard_and_where_things_are(searched) -> None:
    _, run_dir, output = searched
    assert output.count("complete") >= 2
    assert "Leaderboard (2 of 2 trials)" in output
    assert "Best model on the holdout rows: log_loss" in output
    assert f"Best model: {run_dir / 'best'}" in output
    record = json.loads((run_dir / "run.json").read_text())
    assert record["recipe"]["search"]["trials"] == 2
    assert record["recipe"]["search"]["seed"] == 3


def test_predict_writes_one_row_per_input_with_label_and_class_columns(
    searched, tmp_path: Path
) -> None:
    from sample_tables import make_table

    _, run_dir, _ = searched
    rows = make_table(rows=15, seed=9).drop(columns="label").sample(frac=1, random_state=0)
    rows.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "predictions.csv"
    result = CliRunner().invoke(
        cli, ["predict", str(run_dir / "best"), str(tmp_path / "new.csv"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    predictions = pd.read_csv(out)
    assert list(predictions.columns) == ["id", "label", "Class_1", "Class_2", "Class_10"]
    assert list(predictions["id"]) == list(rows["id"])
    np.testing.assert_allclose(predictions.iloc[:, 2:].sum(axis=1), 1.0, atol=1e-6)


def test_predict_names_a_missing_feature_column(searched, tmp_path: Path) -> None:
    from sample_tables import make_table

    _, run_dir, _ = searched
    make_table(rows=5).drop(columns=["label", "x2"]).to_csv(tmp_path / "new.csv", index=False)
    result = CliRunner().invoke(cli, ["predict", str(run_dir / "best"), str(tmp_path / "new.csv")])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {tmp_path / 'new.csv'}: feature column 'x2' is missing"


def test_leaderboard_reads_the_study(searched) -> None:
    _, run_dir, _ = searched
    result = CliRunner().invoke(cli, ["leaderboard", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["rank"] for row in rows] == [1, 2]
    table = CliRunner().invoke(cli, ["leaderboard", str(run_dir), "--top", "1"])
    assert "Leaderboard (1 of 2 trials)" in table.output


def test_leaderboard_of_a_folder_that_is_no_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["leaderboard", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a run folder" in result.output


def test_backends_lists_the_local_backend_with_package_and_options() -> None:
    result = CliRunner().invoke(cli, ["backends", "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    local = next(b for b in listing["backends"] if b["name"] == "local")
    assert local["package"] == "automl"
    assert local["options"] == {"jit_compile": False}
    table = CliRunner().invoke(cli, ["backends"])
    assert "local" in table.output and "automl" in table.output


def test_init_writes_a_recipe_that_validates_once_its_data_exists(tmp_path: Path) -> None:
    from sample_tables import make_table

    path = tmp_path / "recipe.yaml"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(path)]).exit_code == 0
    again = runner.invoke(cli, ["init", str(path)])
    assert again.exit_code == 2 and "--force" in again.output
    text = path.read_text().replace("target: target", "target: label")
    path.write_text(text)
    make_table().to_csv(tmp_path / "data.csv", index=False)
    result = runner.invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid. 90 rows (72 for the search, 18 held out), 4 features" in result.output
    assert load_recipe(path).search.timeout == 600  # the default preset's budget


def test_the_installed_command_runs_in_a_real_process(tmp_path: Path) -> None:
    """`python -m automl` in a subprocess: exit codes and the absence of TensorFlow's log."""
    from sample_tables import make_table

    make_table().to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "r.yaml").write_text(
        "data: {train: train.csv, target: label}\nsearch: {trials: 1, folds: 2}\n"
        "space: {hidden_units: [4], batch_size: 32}\ntraining: {max_epochs: 1}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-m", "automl", "search", "r.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Leaderboard (1 of 1 trials)" in done.stdout
    assert "cuda" not in done.stderr.lower() and "oneDNN" not in done.stderr
    assert (tmp_path / "runs" / "r" / "best" / "model.keras").is_file()
    record = json.loads((tmp_path / "runs" / "r" / "run.json").read_text())
    assert load_recipe(record["recipe"]).space.hidden_units == [4]
    bad = subprocess.run(
        [sys.executable, "-m", "automl", "search", "r.yaml", "--backend", "locl"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith(
        "Error: backend.name: no backend 'locl' (did you mean 'local'?); installed: local"
    )
    assert len(bad.stderr.strip().splitlines()) == 1


class OutOfMemory(LocalBackend):
    """A real backend whose every fold fails, so that no trial completes."""

    def evaluate(self, spec, *args, **kwargs):
        raise RuntimeError("no memory left")


def test_search_exits_1_with_one_line_when_no_trial_completed(
    searched, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe, _, _ = searched
    info = BackendInfo("out-of-memory", OutOfMemory, "tests", "0")
    monkeypatch.setitem(registry().backends, info.name, info)
    arguments = ["search", str(recipe), "--output", str(tmp_path / "run"), "--trials", "2"]
    result = CliRunner().invoke(cli, [*arguments, "--backend", info.name])
    assert result.exit_code == EXIT_NO_TRIAL == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: no trial completed; the first: RuntimeError: no memory left"]
    assert "Traceback" not in result.output
    assert (tmp_path / "run" / "leaderboard.csv").is_file()  # the failed trials are recorded
