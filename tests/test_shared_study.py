"""Several `automl search` processes on one study in a real PostgreSQL server.

CI starts a throwaway server and names it in AUTOML_TEST_POSTGRES (see .ci/postgres.sh); without
one these tests skip.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from automl.results import ModelBundle
from automl.run import LOCK_FILE
from automl.testing import tiny_table
from automl.tuning import connect_storage

pytestmark = pytest.mark.slow

RECIPE = """
name: {name}
data: {{train: train.csv, target: label, id: id}}
search: {{trials: 3, folds: 2, pruner: none, halving: {{enabled: false}}, heartbeat: 1}}
space: {{hidden_units: [8], learning_rate: {{low: 0.001, high: 0.05, log: true}}, batch_size: 16}}
training: {{max_epochs: 3}}
"""


@pytest.fixture
def postgres() -> str:
    url = os.environ.get("AUTOML_TEST_POSTGRES")
    if not url:
        pytest.skip("no PostgreSQL server: AUTOML_TEST_POSTGRES is not set (.ci/run starts one)")
    return url


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, str]:
    """A folder with the tiny table and a recipe whose study name is new to the server."""
    name = f"shared-{uuid.uuid4().hex[:8]}"
    tiny_table().to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "recipe.yaml").write_text(RECIPE.format(name=name))
    return tmp_path, name


def start(folder: Path, url: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "automl", "search", "recipe.yaml", "--storage", url, *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ran(output: str) -> set[int]:
    """The trial numbers a process printed a line for."""
    return {int(n) for n in re.findall(r"^trial\s+(\d+)\s", output, flags=re.MULTILINE)}


def training(storage: optuna.storages.RDBStorage, name: str, number: int) -> bool:
    """Wait until trial ``number`` has its design (it is training), or has ended already."""
    study = optuna.load_study(study_name=name, storage=storage)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        trial = study.get_trials(deepcopy=False)[number]
        if trial.state != TrialState.RUNNING:
            return False
        if "spec" in trial.user_attrs:
            return True
        time.sleep(0.05)
    return False


def test_two_processes_run_one_study(postgres, folder) -> None:
    where, name = folder
    first, second = start(where, postgres), start(where, postgres)
    (out_1, err_1), (out_2, err_2) = first.communicate(timeout=600), second.communicate(timeout=600)
    assert first.returncode == 0 and second.returncode == 0, err_1 + err_2

    study = optuna.load_study(study_name=name, storage=connect_storage(postgres))
    assert sorted(t.number for t in study.trials) == list(range(6))
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert len(ran(out_1)) == len(ran(out_2)) == 3 and not ran(out_1) & ran(out_2)

    run_dir = where / "runs" / name
    board = subprocess.run(
        [sys.executable, "-m", "automl", "leaderboard", str(run_dir), "--storage", postgres],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert board.returncode == 0, board.stderr
    assert "Leaderboard (6 of 6 trials)" in board.stdout
    bundle = ModelBundle.load(run_dir / "best")
    assert bundle.info["trial"] == study.best_trial.number
    assert not [p.name for p in run_dir.iterdir() if p.name.startswith(".") and p.name != LOCK_FILE]


def test_a_killed_process_loses_only_its_trial_in_flight(postgres, folder) -> None:
    where, name = folder
    doomed = start(where, postgres, "--trials", "40", "--json")
    survivor = start(where, postgres, "--trials", "8")
    storage = connect_storage(postgres)
    for line in doomed.stdout:  # JSON events: kill it once a trial of its own is training
        event = json.loads(line)
        if event["event"] == "trial_started" and training(storage, name, event["trial"]):
            killed = event["trial"]
            break
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.communicate(timeout=60)
    out, err = survivor.communicate(timeout=600)
    assert survivor.returncode == 0, err

    study = optuna.load_study(study_name=name, storage=storage)
    by_number = {t.number: t for t in study.trials}
    assert by_number[killed].state == TrialState.FAIL  # its heartbeats stopped
    (retry,) = [t for t in study.trials if t.user_attrs.get("retry_of") == killed]
    assert retry.state == TrialState.COMPLETE and retry.params == by_number[killed].params
    assert retry.number in ran(out)  # the survivor ran it
    assert len(ran(out)) == 8
    others = [t for t in study.trials if t.number != killed]
    assert all(t.state == TrialState.COMPLETE for t in others)
