"""report.html: figures of a real tiny search, skipped figures with reasons, the command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import automl
from automl.cli import cli
from automl.keras import LocalBackend
from automl.recipe import load_recipe
from automl.run import Run, run_recipe, write_report
from automl.run import _report as report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class FailingFirstBackend(LocalBackend):
    """A real backend whose first call raises, as a backend error in one trial would."""

    calls = 0

    def evaluate(self, spec, *args, **kwargs):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError(f"{spec.hidden_units[0]} units do not fit")
        return super().evaluate(spec, *args, **kwargs)


class FailingBackend(LocalBackend):
    """A real backend whose every call raises: no trial completes."""

    def evaluate(self, spec, *args, **kwargs):
        raise RuntimeError("no memory left")


def _images(page: str, run_dir: Path) -> list[str]:
    """The PNGs the page shows, each checked to exist and to be a non-empty PNG."""
    names = re.findall(r'<img src="([^"]+)"', page)
    for name in names:
        content = (run_dir / name).read_bytes()
        assert content.startswith(PNG_SIGNATURE) and len(content) > 1000, name
    return names


def test_a_search_writes_a_report_with_every_figure(recipe_dict: dict) -> None:
    del recipe_dict["space"]["layers"], recipe_dict["space"]["units"]
    recipe_dict["space"]["hidden_units"] = [8]  # its run.json recipe does not load again
    result = automl.search(recipe_dict, trials=3)
    run_dir = result.run_dir
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert sorted(_images(page, run_dir)) == sorted(report.FIGURES)
    assert not re.search(r"https?://", page)
    for trial in result.leaderboard["trial"]:
        assert f"<td>{trial}</td><td>complete</td>" in page
    recorded = json.loads((run_dir / "run.json").read_text())["holdout"]["accuracy"]
    assert f"18 rows the search never saw: accuracy {recorded:.4f}." in page  # the search's split

    Path(recipe_dict["data"]["train"]).unlink()
    page = write_report(Run.open(run_dir)).read_text(encoding="utf-8")
    assert "Not drawn: " in page and "data file not found" in page
    assert report.CONFUSION not in _images(page, run_dir)
    assert not (run_dir / report.CONFUSION).exists()


def test_the_report_shows_a_failed_trial_and_why_figures_are_missing(recipe_dict: dict) -> None:
    recipe_dict["data"]["holdout"] = 0
    result = run_recipe(load_recipe(recipe_dict, {"search.trials": 2}), FailingFirstBackend())
    page = (result.run_dir / "report.html").read_text(encoding="utf-8")
    assert '<tr class="failed">' in page
    assert "RuntimeError: " in page and " units do not fit" in page
    assert "Not drawn: needs 2 complete trials, the run has 1." in page
    assert "data.holdout is 0" in page
    assert sorted(_images(page, result.run_dir)) == sorted(
        [report.LEARNING_CURVES, report.HISTORY, report.PARALLEL]
    )


def test_automl_report_writes_the_page_of_a_run_where_no_trial_completed(
    recipe_dict: dict,
) -> None:
    result = run_recipe(load_recipe(recipe_dict, {"search.trials": 2}), FailingBackend())
    (result.run_dir / "report.html").unlink()
    done = CliRunner().invoke(cli, ["report", str(result.run_dir)])
    assert done.exit_code == 0, done.output
    assert f"Wrote {result.run_dir / 'report.html'}" in done.output
    page = (result.run_dir / "report.html").read_text(encoding="utf-8")
    assert "No trial completed" in page and "<img" not in page
    assert page.count("no memory left") == 2


def test_a_report_that_cannot_be_drawn_does_not_fail_the_search(
    recipe_dict: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(run: Run) -> Path:
        raise ValueError("no fonts\nsecond line")

    monkeypatch.setattr(report, "write_report", broken)
    with pytest.warns(UserWarning, match=r"^report.html not written: ValueError: no fonts$"):
        result = run_recipe(load_recipe(recipe_dict, {"search.trials": 1}), FailingBackend())
    assert (result.run_dir / "run.json").is_file()
    assert not (result.run_dir / "report.html").exists()
