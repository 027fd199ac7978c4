"""The spark-sync backend on a real local[2] Spark: automl's contract suite, discovery, a search."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from sklearn.metrics import log_loss

import automl
from automl.cli import cli
from automl.errors import UserError
from automl.keras import new_model
from automl.plugins import registry
from automl.spec import ModelSpec
from automl.testing import SPEC, BackendContract, tiny_fold, tiny_table
from automl.training import TrainSettings
from automl_spark import SparkSyncBackend

MASTER = "local[2]"  # the shared session's master (conftest.py)


class TestSparkSyncBackend(BackendContract):
    @pytest.fixture(autouse=True)
    def _shared_session(self, spark: Any) -> None:
        """Start the shared session before the backend is used, so that it reuses it."""

    def make_backend(self) -> SparkSyncBackend:
        return SparkSyncBackend(master=MASTER, threads_per_worker=1)


def test_the_entry_point_registers_spark_sync_with_its_options() -> None:
    info = registry().backend("spark-sync")
    assert info.package == "automl-spark"
    assert info.options["master"] is None  # the running session, else local[*]
    assert info.options["batches_per_round"] is None


def test_one_partition_one_round_per_epoch_gives_the_local_epochs_weights(spark: Any) -> None:
    """The algorithm, not only that it runs: state (weights, Adam moments, batch-norm statistics,
    the step counter) goes out and comes back exactly, so two synchronous rounds on one partition
    are two Keras epochs over the same rows in the same order."""
    data = tiny_fold()
    spec = ModelSpec(hidden_units=(8,), batch_norm=True, learning_rate=0.05, batch_size=16)
    settings = TrainSettings(max_epochs=2, seed=3)
    backend = SparkSyncBackend(master=MASTER, partitions=1, shuffle=False, threads_per_worker=1)
    synced = backend.fit(spec, data.x_train, data.y_train, 3, settings, epochs=2)
    local = new_model(spec, data.x_train.shape, 3, settings.seed, 2)
    start = local.get_weights()
    local.fit(data.x_train, data.y_train, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for ours, theirs, before in zip(synced.get_weights(), local.get_weights(), start, strict=True):
        assert not np.allclose(theirs, before)
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_the_learning_rate_travels_with_the_state() -> None:
    """A plateau schedule lowers the driver's learning rate; the workers' rounds must use it."""
    from automl_spark.state import get_state, set_state

    spec = ModelSpec(hidden_units=(4,), learning_rate=0.05, lr_schedule="plateau")
    driver, worker = (new_model(spec, (30, 2), 3, seed, 1) for seed in (0, 1))
    driver.optimizer.learning_rate = 0.0125
    set_state(worker, get_state(driver))
    assert float(worker.optimizer.learning_rate.numpy()) == pytest.approx(0.0125)


def test_rounds_of_n_batches_average_two_partitions_per_epoch(spark: Any) -> None:
    backend = SparkSyncBackend(master=MASTER, partitions=2, batches_per_round=1)
    data = tiny_fold()
    result = backend.evaluate(SPEC, data, TrainSettings(max_epochs=2, patience=2))
    assert result.epochs_run == 2 and len(result.history["val_loss"]) == 2
    assert result.history["val_loss"][1] < result.history["val_loss"][0]


def test_a_search_from_the_command_line_with_spark_sync(spark: Any, tmp_path: Path) -> None:
    tiny_table().to_csv(tmp_path / "train.csv", index=False)
    recipe = {
        "name": "spark-cli",
        "data": {"train": "train.csv", "target": "label", "id": "id"},
        "search": {"trials": 1, "folds": 2, "pruner": "none"},
        "space": {"hidden_units": [8], "learning_rate": 0.05, "batch_size": 16},
        "training": {"max_epochs": 2},
        "backend": {"options": {"master": MASTER}},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    run_dir = tmp_path / "run"
    command = ["search", str(tmp_path / "recipe.yaml"), "--backend", "spark-sync"]
    done = CliRunner().invoke(cli, [*command, "--output", str(run_dir)])
    assert done.exit_code == 0, done.output
    run = json.loads((run_dir / "run.json").read_text())
    assert run["recipe"]["backend"]["name"] == "spark-sync"
    assert set(pd.read_csv(run_dir / "leaderboard.csv")["backend"]) == {"spark-sync"}
    bundle = automl.ModelBundle.load(run_dir / "best")
    proba = bundle.predict_proba(tiny_table(rows=6, seed=3))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_the_tasks_score_the_validation_rows_as_the_driver_would(spark: Any) -> None:
    """val_loss comes from the tasks' sums over their own validation rows; the kept (best)
    epoch's figure is the log-loss of the returned probabilities, computed here on the driver."""
    data = tiny_fold()
    backend = SparkSyncBackend(master=MASTER, partitions=2, threads_per_worker=1)
    result = backend.evaluate(SPEC, data, TrainSettings(max_epochs=3, patience=3))
    kept = result.history["val_loss"][result.best_epoch - 1]
    assert kept == pytest.approx(
        log_loss(data.y_valid, result.valid_proba, labels=[0, 1, 2]), rel=1e-4
    )
    accuracy = result.history["val_accuracy"][result.best_epoch - 1]
    assert accuracy == pytest.approx(np.mean(result.valid_proba.argmax(axis=1) == data.y_valid))


def test_more_partitions_than_task_slots_fail_in_one_line_at_once(spark: Any) -> None:
    """A barrier job cannot start without a slot per task; Spark would wait minutes to say so."""
    backend = SparkSyncBackend(master=MASTER, partitions=3)
    started = time.monotonic()
    with pytest.raises(
        UserError, match=r"^backend\.options\.partitions: 3 partitions .* 2 task slots"
    ):
        backend.evaluate(SPEC, tiny_fold(), TrainSettings(max_epochs=1))
    assert time.monotonic() - started < 30
