"""Progress while a search runs: plain lines off a terminal, JSON events, quiet, a live line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import yaml
from click.testing import CliRunner
from rich.console import Console

import automl
from automl.cli import LiveDisplay, cli


def write_recipe(recipe_dict: dict, tmp_path: Path) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe_dict))
    return path


def test_json_events_describe_every_trial_and_the_result(recipe_dict, tmp_path) -> None:
    done = CliRunner().invoke(
        cli, ["search", str(write_recipe(recipe_dict, tmp_path)), "--trials", "2", "--json"]
    )
    assert done.exit_code == 0, done.output
    events = [json.loads(line) for line in done.output.splitlines()]
    assert [e["event"] for e in events] == [
        "search_started",
        "trial_started",
        "trial_ended",
        "trial_started",
        "trial_ended",
        "search_ended",
    ]
    assert events[0]["planned"] == 2 and events[0]["folds"] == 2
    ended = events[2]
    assert ended["state"] == "complete" and ended["best"] == ended["value"]
    assert ended["architecture"] and len(ended["epochs"]) == 2
    assert events[-1]["leaderboard"][0]["rank"] == 1
    assert Path(events[-1]["best"]).is_dir()


def test_off_a_terminal_each_trial_is_one_plain_line(recipe_dict, tmp_path) -> None:
    done = CliRunner().invoke(
        cli, ["search", str(write_recipe(recipe_dict, tmp_path)), "--trials", "1"]
    )
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0].startswith("trial   0  complete")
    assert "\x1b[" not in done.output
    assert any(line.startswith("Leaderboard (1 of 1 trials)") for line in lines)


def test_quiet_prints_only_where_the_results_are(recipe_dict, tmp_path) -> None:
    done = CliRunner().invoke(
        cli, ["search", str(write_recipe(recipe_dict, tmp_path)), "--trials", "1", "--quiet"]
    )
    assert done.exit_code == 0, done.output
    assert "trial   0" not in done.output and "Leaderboard" not in done.output
    assert "Best model:" in done.output and "Run folder:" in done.output


def test_the_live_line_shows_fold_and_epoch_then_clears_for_the_table(recipe_dict) -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, highlight=False)
    automl.search(recipe_dict, trials=1, progress=LiveDisplay(console))
    shown = screen.getvalue()
    assert "trials 0/1" in shown
    assert "fold 2/2 epoch 2/2" in shown
    assert "trial   0  complete" in shown
