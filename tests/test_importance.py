"""Permutation feature importance: in run.json and the report of a real tiny search, redrawn by
``automl report``, and printed by ``automl evaluate --importance``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

import automl
from automl.cli import cli
from automl.results import ModelBundle, feature_importance
from automl.run import _pipeline as pipeline
from automl.run import _report as report


def _signal_and_noise(rows: int = 240) -> pd.DataFrame:
    """Two classes that ``signal`` separates; ``noise`` is independent of the class."""
    rng = np.random.default_rng(0)
    label = np.arange(rows) % 2
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "noise": rng.normal(size=rows),
            "signal": 3.0 * label + rng.normal(scale=0.7, size=rows),
            "label": np.array(["no", "yes"])[label],
        }
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One network trained on the table through ``automl search``; its run folder."""
    folder = tmp_path_factory.mktemp("importance")
    _signal_and_noise().to_csv(folder / "train.csv", index=False)
    recipe = {
        "name": "importance",
        "data": {"train": "train.csv", "target": "label", "id": "id", "holdout": 0.4},
        "search": {"trials": 1, "folds": 2, "pruner": "none"},
        "space": {"layers": 1, "units": 8, "learning_rate": 0.05, "batch_size": 32},
        "training": {"max_epochs": 6},
        "output": str(folder / "run"),
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    done = CliRunner().invoke(cli, ["search", str(folder / "recipe.yaml"), "--quiet"])
    assert done.exit_code == 0, done.output
    return folder / "run"


def test_the_signal_outranks_the_noise_in_run_json_and_the_report(run_dir: Path) -> None:
    found = json.loads((run_dir / "run.json").read_text())["importance"]
    assert (found["metric"], found["rows"], found["repeats"]) == ("log_loss", 96, 5)
    signal, noise = found["features"]
    assert signal["feature"] == "signal" and noise["feature"] == "noise"
    assert signal["importance"] > 0.2 and abs(noise["importance"]) < signal["importance"] / 10
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert f'<img src="{report.FEATURES}"' in page
    assert (run_dir / report.FEATURES).read_bytes().startswith(b"\x89PNG")
    rows = re.findall(r"<tr><td>(signal|noise)</td><td>([-0-9.]+)</td>", page)
    assert [name for name, _ in rows] == ["signal", "noise"]
    assert float(rows[0][1]) == pytest.approx(signal["importance"], rel=1e-3)


def test_automl_report_redraws_the_importance_from_run_json(run_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(run_dir, tmp_path / "run")
    record = json.loads((copy / "run.json").read_text())
    record["importance"]["features"][0]["feature"] = "recorded"
    (copy / "run.json").write_text(json.dumps(record))
    (copy / report.FEATURES).unlink()
    done = CliRunner().invoke(cli, ["report", str(copy)])
    assert done.exit_code == 0, done.output
    page = (copy / "report.html").read_text(encoding="utf-8")
    assert "<tr><td>recorded</td>" in page and (copy / report.FEATURES).is_file()
    record["importance"] = None
    (copy / "run.json").write_text(json.dumps(record))
    assert CliRunner().invoke(cli, ["report", str(copy)]).exit_code == 0
    page = (copy / "report.html").read_text(encoding="utf-8")
    assert "Not drawn: run.json records none" in page
    assert not (copy / report.FEATURES).exists()


def test_evaluate_prints_the_importance_after_the_scores(run_dir: Path) -> None:
    command = ["evaluate", str(run_dir / "best"), str(run_dir.parent / "train.csv")]
    shown = CliRunner().invoke(cli, [*command, "--importance"])
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert text.index("Per class") < text.index("Permutation importance")
    assert "mean and standard deviation of 5 shuffles of 240 rows." in text
    assert text.index("signal") < text.index("noise")
    as_json = CliRunner().invoke(cli, [*command, "--importance", "--repeats", "2", "--json"])
    found = json.loads(as_json.stdout)["importance"]
    assert found["repeats"] == 2 and found["features"][0]["feature"] == "signal"
    assert "importance" not in json.loads(CliRunner().invoke(cli, [*command, "--json"]).stdout)


def test_rows_of_one_class_score_and_a_large_table_is_subsampled(run_dir: Path) -> None:
    bundle = ModelBundle.load(run_dir / "best")
    table = _signal_and_noise()
    codes = (table["label"] == "yes").to_numpy(dtype=np.int64)
    only_yes = table[codes == 1]
    found = feature_importance(bundle, only_yes[["noise", "signal"]], codes[codes == 1])
    assert found["features"][0]["feature"] == "signal"
    few = feature_importance(bundle, table[["noise", "signal"]], codes, max_rows=50, repeats=1)
    assert few["rows"] == 50 and few["repeats"] == 1
    assert all(row["std"] == 0.0 for row in few["features"])  # one shuffle: no spread
    again = feature_importance(bundle, table[["noise", "signal"]], codes, max_rows=50, repeats=1)
    assert again == few  # seeded


def test_an_importance_that_cannot_be_computed_does_not_fail_the_search(
    recipe_dict: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> dict:
        raise MemoryError("no room\nsecond line")

    monkeypatch.setattr(pipeline, "feature_importance", broken)
    with pytest.warns(
        UserWarning, match=r"^feature importance not computed: MemoryError: no room$"
    ):
        result = automl.search(recipe_dict, trials=1)
    assert json.loads((result.run_dir / "run.json").read_text())["importance"] is None
    page = (result.run_dir / "report.html").read_text(encoding="utf-8")
    assert "Not drawn: run.json records none" in page and result.best is not None


def test_a_time_limit_makes_fewer_repeats_or_none(run_dir: Path) -> None:
    bundle = ModelBundle.load(run_dir / "best")
    table = _signal_and_noise()
    features, codes = table[["noise", "signal"]], (table["label"] == "yes").to_numpy(np.int64)
    assert feature_importance(bundle, features, codes, seconds=600)["repeats"] == 5
    with pytest.raises(TimeoutError, match=r"the time budget \(search.timeout\) is spent"):
        feature_importance(bundle, features, codes, seconds=0)
    with pytest.raises(TimeoutError, match="one shuffle of each feature takes about"):
        feature_importance(bundle, features, codes, seconds=1e-9)
