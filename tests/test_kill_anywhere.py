"""SIGKILL at seeded random points of ``automl search``, again and again, then a resume.

Each round starts ``automl search --trials 2 --json`` on the same run folder and kills it with
SIGKILL either during a fold (a random delay after a trial starts) or while the results are
written (a random delay after the round's last trial ends: leaderboard, final model, bundle,
run.json, report). After every kill: each trial that had completed is still complete with the
same value, and every artifact in the run folder reads whole. A last, unkilled round then
finishes: no leftovers of the killed writes, and its best bundle loads.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from automl.results import ModelBundle
from automl.run import RunFolder

RECIPE = """
name: anywhere
data: {train: train.csv, target: label, id: id}
search: {trials: 2, folds: 2, pruner: none, sampler: random}
space: {hidden_units: [8], learning_rate: {low: 0.001, high: 0.05, log: true}, batch_size: 16}
training: {max_epochs: 4}
"""
ROUNDS = 6
SEED = 20261126


def completed(run_dir: Path) -> dict[int, float]:
    """Complete trials of the run's study: number → value."""
    if not (run_dir / "study.db").is_file():
        return {}
    try:
        study = optuna.load_study(study_name="anywhere", storage=RunFolder(run_dir).default_storage)
    except KeyError:
        return {}
    return {t.number: t.value for t in study.trials if t.state == TrialState.COMPLETE}


def kill_at_random(folder: Path, rng: random.Random) -> str:
    """Start a search, SIGKILL it at a random point; say where (or that it ended first)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "automl", "search", "recipe.yaml", "--json"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    during_fold = rng.random() < 0.5
    trigger = ("trial_started", 1) if during_fold else ("trial_ended", 2)
    delay = rng.uniform(0.0, 1.5) if during_fold else rng.uniform(0.0, 4.0)
    seen = 0
    assert process.stdout is not None
    for line in process.stdout:
        if json.loads(line).get("event") == trigger[0]:
            seen += 1
            if seen == trigger[1]:
                break
    time.sleep(delay)
    where = f"{'during a fold' if during_fold else 'while writing'} +{delay:.2f}s"
    if process.poll() is not None:
        process.wait()
        return where + " (ended first)"
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    return where


def assert_artifacts_whole(run_dir: Path) -> None:
    """Every artifact present reads whole; ``best/`` is there or recoverable from a retired copy."""
    names = {p.name for p in run_dir.iterdir()}
    if "leaderboard.csv" in names:
        board = pd.read_csv(run_dir / "leaderboard.csv")
        assert {"trial", "state"} <= set(board.columns)
        assert (run_dir / "leaderboard.md").read_text().endswith("\n")
    if "run.json" in names:
        json.loads((run_dir / "run.json").read_text())
    if "best" in names:
        ModelBundle.load(run_dir / "best")
    elif any(n.startswith(".best.") and n.endswith(".old") for n in names):
        ModelBundle.load(run_dir / next(n for n in names if n.endswith(".old")))


@pytest.mark.slow
def test_sigkill_anywhere_loses_nothing_and_the_run_resumes(tmp_path: Path) -> None:
    from sample_tables import make_table

    make_table().to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    run_dir = tmp_path / "runs" / "anywhere"
    rng = random.Random(SEED)
    kept: dict[int, float] = {}
    log = []
    for _ in range(ROUNDS):
        log.append(kill_at_random(tmp_path, rng))
        now = completed(run_dir)
        assert {n: now.get(n) for n in kept} == kept, log
        kept = now
        assert_artifacts_whole(run_dir)
    assert kept, f"no trial completed in {ROUNDS} rounds: {log}"

    final = subprocess.run(
        [sys.executable, "-m", "automl", "search", "recipe.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert final.returncode == 0, final.stderr
    now = completed(run_dir)
    assert {n: now.get(n) for n in kept} == kept, log
    assert len(now) >= len(kept) + 1
    leftovers = sorted(p.name for p in run_dir.rglob(".*"))
    assert leftovers == [], (leftovers, log)
    bundle = ModelBundle.load(run_dir / "best")
    assert bundle.info["trial"] in now
    board = pd.read_csv(run_dir / "leaderboard.csv")
    assert set(board.loc[board["state"] == "complete", "trial"]) == set(now)
