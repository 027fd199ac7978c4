"""The engine end to end on tiny data: a real Optuna study on SQLite, real Keras models."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

import automl
from automl import search
from automl.data import load_dataset
from automl.errors import UserError
from automl.events import Stop, StopReason
from automl.keras import LocalBackend
from automl.recipe import load_recipe
from automl.results import build_leaderboard
from automl.run import RunFolder, recorded_recipe, run_recipe
from automl.spec import ModelSpec
from automl.training import FoldData, FoldResult, TrainSettings
from automl.tuning import Budget, evaluate_spec, make_pruner, make_sampler, run_trials, suggest_spec


class FailingFirstBackend(LocalBackend):
    """A real backend whose first call raises, as a backend error in one trial would."""

    calls = 0

    def evaluate(self, spec, data: FoldData, settings, on_epoch=None) -> FoldResult:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError(f"{spec.hidden_units[0]} units do not fit")
        return super().evaluate(spec, data, settings, on_epoch)


class InterruptingBackend(LocalBackend):
    """A real backend whose second call is cut short as if the user pressed Ctrl-C."""

    calls = 0

    def evaluate(self, spec, data: FoldData, settings, on_epoch=None) -> FoldResult:
        self.calls += 1
        if self.calls == 3:
            raise KeyboardInterrupt
        return super().evaluate(spec, data, settings, on_epoch)


class RecordingBackend(LocalBackend):
    """A real backend that keeps the arrays it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[FoldData] = []

    def evaluate(self, spec, data: FoldData, settings, on_epoch=None) -> FoldResult:
        self.seen.append(data)
        return super().evaluate(spec, data, settings, on_epoch)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory):
    """One tiny search, shared by the tests that only read its results."""
    from sample_tables import make_table

    folder = tmp_path_factory.mktemp("finished")
    make_table().to_csv(folder / "train.csv", index=False)
    make_table(rows=12, seed=5).drop(columns="label").to_csv(folder / "test.csv", index=False)
    recipe = {
        "name": "tiny",
        "data": {
            "train": str(folder / "train.csv"),
            "target": "label",
            "id": "id",
            "test": str(folder / "test.csv"),
        },
        "search": {"trials": 3, "folds": 2, "seed": 1, "pruner": "none"},
        "space": {
            "layers": 1,
            "units": {"low": 4, "high": 16},
            "learning_rate": 0.01,
            "batch_size": 32,
        },
        "training": {"max_epochs": 3},
        "output": str(folder / "run"),
    }
    return search(recipe), recipe


def test_a_finished_run_reopens_with_its_results(finished) -> None:
    result, recipe = finished
    run = automl.Run.open(result.run_dir)
    pd.testing.assert_frame_equal(run.leaderboard, result.leaderboard)
    assert run.holdout == result.holdout and run.stop == result.stop
    assert run.recipe is not None and run.recipe.name == recipe["name"]
    assert len(run.study.trials) == len(result.study.trials)
    assert run.best is not None and run.best.info["trial"] == result.best.info["trial"]
    rows = pd.read_csv(recipe["data"]["test"]).head(5)
    np.testing.assert_allclose(run.best.predict_proba(rows), result.best.predict_proba(rows))


def test_a_search_writes_the_run_folder(finished) -> None:
    result, recipe = finished
    names = {p.name for p in result.run_dir.iterdir()}
    assert {
        "study.db",
        "leaderboard.csv",
        "leaderboard.md",
        "best",
        "run.json",
        "predictions.csv",
    } <= names
    assert not [n for n in names if n.endswith(".tmp") or n.startswith(".")]
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["trials"] == {"complete": 3}
    assert record["best"]["trial"] == result.study.best_trial.number
    assert set(record["holdout"]) == {"log_loss", "accuracy"}
    assert {"tensorflow", "keras", "optuna", "python"} <= set(record["versions"])
    assert record["recipe"]["search"]["trials"] == 3
    assert load_recipe(record["recipe"]).data.train == Path(recipe["data"]["train"])
    umask = os.umask(0)
    os.umask(umask)
    for name in ("leaderboard.csv", "run.json", "best/bundle.json", "best/model.keras"):
        assert (result.run_dir / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
    assert (result.run_dir / "best").stat().st_mode & 0o777 == 0o777 & ~umask


def test_the_leaderboard_ranks_trials_from_the_study(finished) -> None:
    result, _ = finished
    board = result.leaderboard
    assert list(board["rank"]) == [1, 2, 3]
    assert list(board["log_loss"]) == sorted(board["log_loss"])
    assert board["trial"].iloc[0] == result.study.best_trial.number
    assert set(board["backend"]) == {"local"}
    assert {
        "fold_1",
        "fold_2",
        "std",
        "accuracy",
        "epochs",
        "seconds",
        "params",
        "architecture",
    } <= set(board.columns)
    on_disk = pd.read_csv(result.run_dir / "leaderboard.csv")
    assert list(on_disk["trial"]) == list(board["trial"])
    assert (result.run_dir / "leaderboard.md").read_text().startswith("| rank | trial | state |")
    trial = result.study.best_trial
    assert trial.value == pytest.approx(np.mean(trial.user_attrs["fold_values"]))


def test_the_best_bundle_predicts_the_test_rows(finished) -> None:
    result, recipe = finished
    predictions = pd.read_csv(result.run_dir / "predictions.csv")
    assert list(predictions.columns) == ["id", "label", "Class_1", "Class_2", "Class_10"]
    assert len(predictions) == 12
    proba = predictions.iloc[:, 2:].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert list(predictions["label"]) == list(predictions.columns[2:][proba.argmax(axis=1)])
    test = pd.read_csv(recipe["data"]["test"])
    assert list(predictions["id"]) == list(test["id"])
    assert result.best.info["trial"] == result.study.best_trial.number


def test_running_again_continues_the_study_and_fresh_starts_over(tmp_path, recipe_dict) -> None:
    first = search(recipe_dict, trials=2)
    again = search(recipe_dict, trials=2)
    numbers = [t.number for t in again.study.trials]
    assert numbers == [0, 1, 2, 3]
    assert len(again.leaderboard) == 4
    assert first.study.trials[0].params == again.study.trials[0].params
    fresh = search(recipe_dict, trials=1, fresh=True)
    assert [t.number for t in fresh.study.trials] == [0]


def test_a_failing_trial_is_recorded_and_the_search_goes_on(recipe_dict) -> None:
    recipe = load_recipe(recipe_dict, {"search.trials": 2})
    result = run_recipe(recipe, FailingFirstBackend())
    failed = result.leaderboard[result.leaderboard["state"] == "failed"]
    complete = result.leaderboard[result.leaderboard["state"] == "complete"]
    assert (len(failed), len(complete)) == (1, 1)
    assert failed["reason"].str.contains("RuntimeError: .* units do not fit").all()
    assert failed["rank"].isna().all()
    assert result.best is not None


def test_ctrl_c_ends_the_trial_and_still_writes_the_results(recipe_dict) -> None:
    recipe = load_recipe(recipe_dict, {"search.trials": 5})
    result = run_recipe(recipe, InterruptingBackend())
    assert result.interrupted
    assert list(result.leaderboard["state"]) == ["complete", "failed"]
    assert "interrupted by the user" in result.leaderboard["reason"].iloc[1]
    assert (result.run_dir / "best" / "bundle.json").is_file()
    assert json.loads((result.run_dir / "run.json").read_text())["interrupted"] is True


def test_a_trial_left_running_by_a_killed_run_is_failed_and_queued_again(recipe_dict) -> None:
    recipe = load_recipe(recipe_dict)
    run_dir = recipe.run_dir
    run_dir.mkdir(parents=True)
    study = optuna.create_study(study_name="tiny", storage=RunFolder(run_dir).default_storage)
    study.set_user_attr("metric", "log_loss")
    killed = study.ask({"layers": optuna.distributions.IntDistribution(1, 2)})
    result = search(recipe_dict, trials=1)
    trials = result.study.trials
    assert trials[0].state == TrialState.FAIL
    assert "interrupted" in result.leaderboard.set_index("trial").loc[0, "reason"]
    assert trials[1].params["layers"] == killed.params["layers"]
    assert trials[1].user_attrs["retry_of"] == 0


def test_a_pruned_trial_is_recorded_as_pruned(recipe_dict) -> None:
    recipe = load_recipe(recipe_dict)
    dataset = load_dataset(recipe.data)
    folds = list(dataset.folds(2, seed=0))
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))
    study.set_user_attr("metric", "log_loss")

    def score(spec, after_fold, after_epoch):
        return evaluate_spec(
            spec,
            dataset,
            folds,
            LocalBackend(),
            TrainSettings(max_epochs=1),
            "log_loss",
            after_fold,
        )

    ends = []
    stop = run_trials(study, recipe.space, score, Budget(2, None), on_trial_end=ends.append)
    assert stop == Stop(StopReason.BUDGET) and str(stop) == ""
    assert [end.state for end in ends] == ["pruned", "pruned"]
    board = build_leaderboard(study)
    assert list(board["reason"]) == ["pruned after fold 1"] * 2
    assert len(board["fold_1"].dropna()) == 2 and "fold_2" not in board


def test_the_time_budget_stops_the_search(recipe_dict) -> None:
    result = search(recipe_dict, trials=50, time="15s")  # the whole call, data loading too
    assert 1 <= len(result.study.trials) < 50


def test_preprocessing_is_fitted_on_each_folds_training_rows_only(recipe_dict) -> None:
    recipe = load_recipe(recipe_dict)
    dataset = load_dataset(recipe.data)
    folds = list(dataset.folds(2, seed=0))
    backend = RecordingBackend()
    evaluate_spec(
        ModelSpec(hidden_units=(4,)),
        dataset,
        folds,
        backend,
        TrainSettings(max_epochs=1),
        "log_loss",
    )
    for data, (train_rows, valid_rows) in zip(backend.seen, folds, strict=True):
        np.testing.assert_allclose(data.x_train[:, 0].mean(), 0.0, atol=1e-5)
        raw = dataset.features["x1"].to_numpy()
        expected = (raw[valid_rows] - raw[train_rows].mean()) / raw[train_rows].std()
        np.testing.assert_allclose(data.x_valid[:, 0], expected, rtol=1e-4, atol=1e-5)
        assert data.x_train.shape[1] == 2 + 3  # two numbers and three one-hot colours


def test_fold_ensemble_keeps_one_model_per_fold(recipe_dict) -> None:
    result = search(
        {**recipe_dict, "training": {"max_epochs": 2, "final_model": "fold_ensemble"}}, trials=1
    )
    assert len(result.best.members) == 2
    assert result.best.info["final_model"] == "fold_ensemble"
    assert sorted(p.name for p in (result.run_dir / "best").glob("*.keras")) == [
        "model_1.keras",
        "model_2.keras",
    ]


def test_the_seed_fixes_splits_and_proposals(recipe_dict, tmp_path) -> None:
    one = search(recipe_dict, trials=2, output=tmp_path / "one")
    two = search(recipe_dict, trials=2, output=tmp_path / "two")
    assert [t.params for t in one.study.trials] == [t.params for t in two.study.trials]
    for first, second in zip(one.study.trials, two.study.trials, strict=True):
        assert first.user_attrs["fold_values"] == pytest.approx(second.user_attrs["fold_values"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("metric", "accuracy", "search.metric: .* made with log_loss, not accuracy"),
        ("seed", 9, "search.seed: .* made with 1, not 9"),
        ("folds", 3, "search.folds: .* made with 2, not 3"),
    ],
)
def test_a_continued_study_keeps_its_metric_and_splits(recipe_dict, field, value, message) -> None:
    search(recipe_dict, trials=1)
    changed = {**recipe_dict, "search": {**recipe_dict["search"], field: value}}
    with pytest.raises(UserError, match=message):
        search(changed, trials=1)


def test_run_json_masks_a_database_password() -> None:
    recipe = load_recipe(
        {
            "name": "db",
            "data": {"train": "t.csv", "target": "y"},
            "search": {"storage": "postgresql://me:secret@db.example/automl"},
        }
    )
    recorded = recorded_recipe(recipe)
    assert recorded["search"]["storage"] == "postgresql://me:***@db.example/automl"
    assert "secret" not in json.dumps(recorded)


def test_other_metrics_maximise(recipe_dict) -> None:
    result = search(
        {**recipe_dict, "search": {**recipe_dict["search"], "metric": "f1_macro"}}, trials=2
    )
    assert result.study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert list(result.leaderboard["f1_macro"]) == sorted(
        result.leaderboard["f1_macro"], reverse=True
    )


def test_resume_keeps_the_bundle_when_the_best_trial_is_unchanged(recipe_dict) -> None:
    first = search(recipe_dict, trials=1)
    stamp = (first.run_dir / "best" / "model.keras").stat().st_mtime_ns
    hopeless = {**recipe_dict["space"], "learning_rate": 1e-7}
    result = search({**recipe_dict, "space": hopeless}, trials=1)
    assert result.study.best_trial.number == 0
    assert (result.run_dir / "best" / "model.keras").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes", "qmc"])
def test_every_sampler_proposes_reproducibly(sampler: str) -> None:
    space = load_recipe({"name": "s", "data": {"train": "t.csv", "target": "y"}}).space
    proposals = []
    for _ in range(2):
        study = optuna.create_study(sampler=make_sampler(sampler, seed=4))
        for _ in range(3):
            trial = study.ask()
            suggest_spec(space, trial)
            study.tell(trial, 1.0)
        proposals.append([t.params for t in study.trials])
    assert proposals[0] == proposals[1]


def test_the_gp_sampler_names_its_missing_dependency() -> None:
    if importlib.util.find_spec("torch") is not None:
        assert make_sampler("gp", seed=0) is not None
    else:
        with pytest.raises(UserError, match=r"gp needs PyTorch.*pip install 'automl\[gp\]'"):
            make_sampler("gp", seed=0)


@pytest.mark.parametrize("pruner", ["median", "hyperband", "none"])
def test_every_pruner_is_built_with_folds_as_steps(pruner: str) -> None:
    built = make_pruner(pruner, n_folds=5)
    assert isinstance(built, optuna.pruners.BasePruner)


def test_rows_in_memory_and_fold_histories_on_the_trial(recipe_dict) -> None:
    from sample_tables import make_table

    data = {k: v for k, v in recipe_dict["data"].items() if k != "train"}
    recipe = load_recipe({**recipe_dict, "data": data}, {"search.trials": 1})
    result = run_recipe(recipe, LocalBackend(), table=make_table())
    histories = result.study.trials[0].user_attrs["history"]
    assert len(histories) == 2
    assert len(histories[0]["val_loss"]) == result.study.trials[0].user_attrs["epochs"][0]


class BrokenBackend(LocalBackend):
    """A real backend that can never train (e.g. a plugin whose service is down)."""

    def evaluate(self, spec, data: FoldData, settings, on_epoch=None) -> FoldResult:
        raise ConnectionError("training service unreachable")


def test_the_search_stops_after_too_many_failures_in_a_row(recipe_dict) -> None:
    recipe = load_recipe(recipe_dict, {"search.trials": 5, "search.max_failures": 2})
    result = run_recipe(recipe, BrokenBackend())
    assert len(result.leaderboard) == 2 and result.best is None
    assert result.stopped == (
        "2 trials failed in a row (search.max_failures); "
        "the last: ConnectionError: training service unreachable"
    )
    assert json.loads((result.run_dir / "run.json").read_text())["stopped"] == result.stopped


# Imports first, then waits for the same start time, so the processes open the database at once.
OPEN_STORAGE = """
import sys, time
from automl.tuning import connect_storage
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
connect_storage(sys.argv[1])
print("ok")
"""


def test_processes_opening_a_new_database_together_all_succeed(tmp_path) -> None:
    # new interpreters, not forks: a fork of this process (TensorFlow's and Spark's threads) may
    # inherit a lock another thread held, and hang
    url, start = RunFolder(tmp_path).default_storage, time.time() + 15
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_STORAGE, url, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outcomes = [process.communicate(timeout=120) for process in processes]
    assert [out.strip() for out, _ in outcomes] == ["ok"] * 6, [err for _, err in outcomes]
