"""Real processes: SIGTERM ends a search cleanly, SIGKILL loses nothing, resuming continues."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from automl.results import ModelBundle
from automl.run import RunFolder
from automl.tuning import connect_storage

RECIPE = """
name: killme
data: {train: train.csv, target: label, id: id}
search: {trials: 40, folds: 2, pruner: none}
space: {hidden_units: [8], learning_rate: {low: 0.001, high: 0.05, log: true}, batch_size: 16}
training: {max_epochs: 6}
"""


def start(folder: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "automl", "search", "recipe.yaml"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(folder: Path, state: TrialState, count: int, limit: float = 240) -> None:
    """Poll the run's study until ``count`` trials are in ``state``."""
    deadline = time.monotonic() + limit
    url = RunFolder(folder / "runs" / "killme").default_storage
    while time.monotonic() < deadline:
        if (folder / "runs" / "killme" / "study.db").is_file():
            try:
                study = optuna.load_study(study_name="killme", storage=connect_storage(url))
                if len(study.get_trials(deepcopy=False, states=(state,))) >= count:
                    return
            except KeyError:
                pass
        time.sleep(0.5)
    raise AssertionError(f"no {count} {state.name} trials within {limit}s")


@pytest.mark.slow
def test_sigterm_then_sigkill_then_resume(tmp_path: Path) -> None:
    from sample_tables import make_table

    make_table().to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    run_dir = tmp_path / "runs" / "killme"

    first = start(tmp_path)
    wait_for(tmp_path, TrialState.COMPLETE, 2)
    first.send_signal(signal.SIGTERM)
    out, err = first.communicate(timeout=180)
    assert first.returncode == 130, err  # the shell's code for an interrupted command
    assert "Stopped early (interrupted by the user)" in out
    assert json.loads((run_dir / "run.json").read_text())["interrupted"] is True
    ModelBundle.load(run_dir / "best")

    second = start(tmp_path)
    wait_for(tmp_path, TrialState.COMPLETE, 4)
    wait_for(tmp_path, TrialState.RUNNING, 1)
    os.kill(second.pid, signal.SIGKILL)
    second.communicate(timeout=60)
    names = sorted(p.name for p in run_dir.iterdir())
    assert not [n for n in names if n.endswith(".tmp") or n.startswith(".")], names
    ModelBundle.load(run_dir / "best")

    study = optuna.load_study(study_name="killme", storage=RunFolder(run_dir).default_storage)
    complete = [t.number for t in study.trials if t.state == TrialState.COMPLETE]
    killed = [t for t in study.trials if t.state == TrialState.RUNNING]
    assert len(complete) >= 4 and len(killed) == 1

    resumed = subprocess.run(
        [sys.executable, "-m", "automl", "search", "recipe.yaml", "--trials", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    study = optuna.load_study(study_name="killme", storage=RunFolder(run_dir).default_storage)
    by_number = {t.number: t for t in study.trials}
    assert all(by_number[n].state == TrialState.COMPLETE for n in complete)
    assert by_number[killed[0].number].state == TrialState.FAIL
    retry = study.trials[-1]
    assert retry.user_attrs["retry_of"] == killed[0].number
    assert retry.params == killed[0].params
    assert (
        "interrupted: the run stopped during this trial" in (run_dir / "leaderboard.md").read_text()
    )
    ModelBundle.load(run_dir / "best")
