"""Same recipe and seed on the same machine: the same leaderboard; predictions keep their rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from automl import search
from automl.cli import cli

# Columns that measure time, not results.
_CLOCK = ["seconds"]


@pytest.fixture(scope="module")
def twin_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same tiny recipe (TPE, median pruner, 3 trials, 2 folds) run twice in two folders."""
    from sample_tables import make_table

    folder = tmp_path_factory.mktemp("twins")
    make_table(rows=120).to_csv(folder / "train.csv", index=False)
    runs = []
    for name in ("first", "second"):
        recipe = {
            "name": "twin",
            "data": {"train": str(folder / "train.csv"), "target": "label", "id": "id"},
            "search": {"trials": 3, "folds": 2, "seed": 7},
            "space": {
                "layers": {"low": 1, "high": 2},
                "units": {"low": 4, "high": 16},
                "dropout": {"low": 0.0, "high": 0.3},
                "batch_size": [16, 32],
            },
            "training": {"max_epochs": 3, "early_stopping": {"patience": 1}},
            "output": str(folder / name),
        }
        runs.append(search(recipe).run_dir)
    return runs[0], runs[1]


def test_the_same_recipe_and_seed_give_the_same_leaderboard(twin_runs) -> None:
    first, second = (pd.read_csv(run / "leaderboard.csv").drop(columns=_CLOCK) for run in twin_runs)
    assert len(first) == 3
    pd.testing.assert_frame_equal(first, second)
    holdouts = [json.loads((run / "run.json").read_text())["holdout"] for run in twin_runs]
    assert holdouts[0] == holdouts[1]


def test_run_json_records_seeds_versions_and_the_machine(twin_runs) -> None:
    run = json.loads((twin_runs[0] / "run.json").read_text())
    assert run["seeds"] == {
        "search.seed": 7,
        "sampler": 7,
        "holdout_and_folds": 7,
        "fold_training": [7, 8],
        "final_model": 7,
    }
    assert {"python", "automl", "tensorflow", "keras", "optuna", "numpy"} <= set(run["versions"])
    machine = run["machine"]
    assert machine["cpu_count"] >= 1 and machine["platform"]
    assert isinstance(machine["accelerators"], list)  # TensorFlow was loaded: [] on a CPU machine


def test_predict_keeps_one_row_per_input_row_in_input_order(twin_runs, tmp_path: Path) -> None:
    """Shuffled rows come back in their shuffled order, ids carried through, same numbers."""
    from sample_tables import make_table

    rows = make_table(rows=60, seed=3).drop(columns="label")
    shuffled = rows.sample(frac=1.0, random_state=11).reset_index(drop=True)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    shuffled.to_csv(tmp_path / "shuffled.csv", index=False)
    bundle = str(twin_runs[0] / "best")
    runner = CliRunner()
    for name in ("rows", "shuffled"):
        source, target = str(tmp_path / f"{name}.csv"), str(tmp_path / f"{name}.out")
        done = runner.invoke(cli, ["predict", bundle, source, "-o", target, "--proba-only"])
        assert done.exit_code == 0, done.output
    plain = pd.read_csv(tmp_path / "rows.out")
    mixed = pd.read_csv(tmp_path / "shuffled.out")

    assert len(mixed) == len(shuffled)
    assert mixed["id"].tolist() == shuffled["id"].tolist()
    by_id = plain.set_index("id").loc[mixed["id"]].reset_index()
    np.testing.assert_allclose(mixed.drop(columns="id"), by_id.drop(columns="id"), atol=1e-6)
    assert not np.allclose(mixed.drop(columns="id"), plain.drop(columns="id"))  # a real shuffle
