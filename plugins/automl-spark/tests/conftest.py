"""One local[2] SparkSession for every Spark test of the run (backends reuse a running session)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from automl.testing import tiny_table
from automl_spark.session import SessionOptions, spark_session

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MASTER = "local[2]"


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A local[2] SparkSession shared by all Spark tests, stopped at the end of the run."""
    session, started = spark_session(SessionOptions(MASTER))
    yield session
    if started:
        session.stop()


RunPython = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def run_python() -> RunPython:
    """Runs this interpreter with ``args`` in ``cwd`` (for a driver that needs its own Spark, or
    no Spark at all); fails the test with the end of its output when it fails."""

    def run(
        args: list[str], cwd: Path, limit: float = 600, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=limit,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done

    return run


@pytest.fixture
def two_trial_search(run_python: RunPython) -> Callable[..., Path]:
    """``automl search`` in a subprocess: 2 trials of 2 folds on the tiny table with a backend
    and its options; returns the run folder."""

    def search(
        folder: Path, backend: str, options: dict[str, Any], env: Mapping[str, str] | None = None
    ) -> Path:
        tiny_table().to_csv(folder / "train.csv", index=False)
        recipe = {
            "name": "two-trials",
            "data": {"train": "train.csv", "target": "label", "id": "id"},
            "search": {"trials": 2, "folds": 2, "pruner": "none"},
            "space": {"hidden_units": [8], "learning_rate": {"low": 0.01, "high": 0.05}},
            "training": {"max_epochs": 2},
            "backend": {"name": backend, "options": options},
        }
        (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
        run_python(["-m", "automl", "search", "recipe.yaml"], folder, env=env)
        return folder / "runs" / "two-trials"

    return search
