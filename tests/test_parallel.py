"""search.parallel here: real worker processes, real Keras models, a real SQLite study."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal

import numpy as np
import pytest
from optuna.trial import TrialState
from sample_tables import ThreadsReporting

from automl import search
from automl.errors import UserError
from automl.events import INTERRUPTED_MESSAGE as INTERRUPTED
from automl.events import Progress, TrialEnd
from automl.keras import LocalBackend
from automl.recipe import load_recipe
from automl.results import ModelBundle
from automl.run import RunFolder, run_recipe
from automl.tuning import hold_sqlite


def parallel(recipe_dict: dict, trials: int) -> dict:
    recipe_dict["search"].update(trials=trials, parallel=2)
    return recipe_dict


def test_two_workers_run_trials_side_by_side(recipe_dict) -> None:
    result = search(parallel(recipe_dict, 4))
    trials = result.study.trials
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert all(t.state == TrialState.COMPLETE for t in trials), [t.user_attrs for t in trials]
    # the driver asked for trial 1 before it told trial 0: both were in flight at once
    assert trials[1].datetime_start < trials[0].datetime_complete
    assert len(result.leaderboard) == 4 and result.leaderboard["rank"].tolist() == [1, 2, 3, 4]
    for trial in trials:  # the driver recorded every fold the workers trained
        assert len(trial.user_attrs["fold_values"]) == 2 and len(trial.user_attrs["history"]) == 2
    bundle = ModelBundle.load(result.run_dir / "best")
    assert bundle.info["trial"] == result.study.best_trial.number
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["trials"] == {"complete": 4} and record["recipe"]["search"]["parallel"] == 2


class KillWorkers(Progress):
    """Kills the worker processes (SIGKILL) as trial 1 starts: trial 0's fold is with one."""

    def trial_started(self, number: int) -> None:
        if number == 1:
            for child in multiprocessing.active_children():
                if child.name == "automl-worker":
                    os.kill(child.pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_killed_worker_fails_its_trial_and_the_trial_runs_again(recipe_dict) -> None:
    result = search(parallel(recipe_dict, 5), progress=KillWorkers())
    trials = result.study.trials
    lost = [t for t in trials if t.state == TrialState.FAIL]
    assert 0 in [t.number for t in lost]
    for trial in lost:
        assert trial.user_attrs["fail_reason"] == "the worker process died (killed by signal 9)"
        (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == trial.number]
        assert retry.params == trial.params and retry.state == TrialState.COMPLETE
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 5 - len(lost)
    ModelBundle.load(result.run_dir / "best")


class CtrlCAfterFirst(Progress):
    """Presses Ctrl-C as the first trial ends."""

    pressed = False

    def trial_ended(self, end: TrialEnd, best: float | None) -> None:
        if not self.pressed:
            self.pressed = True
            raise KeyboardInterrupt


@pytest.mark.slow
def test_ctrl_c_fails_the_trials_in_flight_and_keeps_the_rest(recipe_dict) -> None:
    result = search(parallel(recipe_dict, 6), progress=CtrlCAfterFirst())
    assert result.interrupted and result.stopped == INTERRUPTED
    states = sorted(t.state.name for t in result.study.trials)
    assert states == ["COMPLETE", "FAIL"]
    (failed,) = [t for t in result.study.trials if t.state == TrialState.FAIL]
    assert failed.user_attrs["fail_reason"] == "interrupted by the user (Ctrl-C)"
    assert json.loads((result.run_dir / "run.json").read_text())["interrupted"] is True
    ModelBundle.load(result.run_dir / "best")


class OneAtATime(LocalBackend):
    """A backend that cannot be made again in a worker process, and that no plugin pools."""

    process_safe = False


def test_parallel_needs_a_backend_with_workers(recipe_dict, tmp_path) -> None:
    recipe = load_recipe(parallel(recipe_dict, 2) | {"backend": {"name": "one-at-a-time"}})
    with pytest.raises(UserError, match=r"^search.parallel: backend 'one-at-a-time' trains one"):
        run_recipe(recipe, OneAtATime())
    assert not (tmp_path / "run").exists()


def test_a_sqlite_study_takes_one_process_at_a_time(recipe_dict, tmp_path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with (
        hold_sqlite(RunFolder(run_dir).default_storage),
        pytest.raises(UserError, match=r"in use by another automl search.*postgresql://"),
    ):
        search(recipe_dict)
    assert not (run_dir / "leaderboard.csv").exists()


@pytest.mark.slow
def test_the_same_trials_score_and_ensemble_the_same_whatever_the_parallelism(
    recipe_dict, tmp_path
) -> None:
    recipe_dict["search"].update(sampler="random", trials=3)  # trial k: the same design
    recipe_dict["training"]["final_model"] = "ensemble"
    one = search(recipe_dict, output=tmp_path / "one")
    two = search(recipe_dict, output=tmp_path / "two", parallel=2)
    for serial, side_by_side in zip(one.study.trials, two.study.trials, strict=True):
        assert serial.params == side_by_side.params
        assert serial.value == pytest.approx(side_by_side.value, rel=1e-4)
        assert serial.user_attrs["epochs"] == side_by_side.user_attrs["epochs"]
    assert list(one.leaderboard["trial"]) == list(two.leaderboard["trial"])
    assert one.best.info["trial"] == two.best.info["trial"]
    assert sorted(p.name for p in one.run_dir.iterdir()) == sorted(
        p.name for p in two.run_dir.iterdir()
    )
    # the workers handed back their fold models: the same candidates, the same ensemble
    serial_oofs, parallel_oofs = (
        sorted(RunFolder(run.run_dir).trials.glob("*/oof.npy")) for run in (one, two)
    )
    assert [p.parent.name for p in serial_oofs] == [p.parent.name for p in parallel_oofs]
    assert len(serial_oofs) == 3
    for serial_oof, parallel_oof in zip(serial_oofs, parallel_oofs, strict=True):
        np.testing.assert_allclose(np.load(serial_oof), np.load(parallel_oof), atol=1e-4)
    assert two.best.info["ensemble"] is not None
    assert two.best.info["ensemble"] == pytest.approx(one.best.info["ensemble"], abs=1e-6)
    assert two.holdout == pytest.approx(one.holdout, rel=1e-4)


def test_a_plugin_backend_that_is_process_safe_runs_in_the_worker_processes(recipe_dict) -> None:
    recipe = load_recipe(parallel(recipe_dict, 2) | {"backend": {"name": "threads-reporting"}})
    result = run_recipe(recipe, ThreadsReporting(), report=False)
    assert [t.state for t in result.study.trials] == [TrialState.COMPLETE] * 2
    expected = max(1, (os.cpu_count() or 1) // 2)  # the machine's cores over the two workers
    for trial in result.study.trials:
        for history in trial.user_attrs["history"]:
            assert set(history["worker_threads"]) == {expected}
