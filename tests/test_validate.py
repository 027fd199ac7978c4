"""``automl validate``: a dry run that shows the resolved search space and the run's outputs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from click.testing import CliRunner

from automl.cli import cli

GOOD = Path(__file__).parent / "bad_inputs" / "good"


def test_validate_prints_the_space_and_the_outputs_and_writes_nothing(tmp_path: Path) -> None:
    shutil.copytree(GOOD, tmp_path, dirs_exist_ok=True)
    recipe = (
        (tmp_path / "recipe.yaml")
        .read_text()
        .replace(
            "space: {layers: 1, units: 4, batch_size: 8}",
            "space: {layers: {low: 1, high: 3}, units: {low: 8, high: 64, log: true}, "
            "batch_size: [16, 32], optimizer: adam, dropout: 0.1}",
        )
    )
    (tmp_path / "recipe.yaml").write_text(recipe)
    before = sorted(p.name for p in tmp_path.iterdir())
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(cli, ["validate", "recipe.yaml"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["layers", "integer", "1", "to", "3"] in lines
    assert ["units", "(each", "layer)", "integer", "8", "to", "64,", "log"] in lines
    assert ["batch_size", "one", "of", "16,", "32"] in lines
    assert ["optimizer", "fixed", "adam"] in lines
    assert ["dropout", "fixed", "0.1"] in lines
    assert "Budget: 1 trial; tpe sampler, none pruner, seed 0;" in result.stdout
    assert ["run/", "the", "run", "folder", "(will", "be", "created)"] in lines
    for written in ("study.db", "leaderboard.csv,", "best/", "run.json", "report.html"):
        assert written in result.stdout
    assert "predictions.csv" in result.stdout and "test.csv" in result.stdout
    assert result.stdout.rstrip().endswith("Nothing was trained or written.")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
