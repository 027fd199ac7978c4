"""The processes backend: automl's contract suite, discovery, and a search that uses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import automl
from automl.plugins import registry
from automl.testing import BackendContract, tiny_table
from automl_processes import ProcessBackend


class TestProcessBackend(BackendContract):
    def make_backend(self) -> ProcessBackend:
        return ProcessBackend(n_jobs=2, threads_per_job=1)


def test_the_entry_point_registers_the_backend_with_its_options() -> None:
    info = registry().backend("processes")
    assert info.package == "automl-processes"
    assert info.options == {"n_jobs": 2, "threads_per_job": None}


def test_a_search_with_the_processes_backend(tmp_path: Path) -> None:
    tiny_table().to_csv(tmp_path / "train.csv", index=False)
    result = automl.search(
        {
            "name": "procs",
            "data": {"train": str(tmp_path / "train.csv"), "target": "label", "id": "id"},
            "search": {"trials": 2, "folds": 2, "pruner": "none"},
            "space": {
                "hidden_units": [8],
                "learning_rate": {"low": 0.01, "high": 0.05},
                "batch_size": 16,
            },
            "training": {"max_epochs": 2},
            "backend": {"name": "processes", "options": {"n_jobs": 2, "threads_per_job": 1}},
            "output": str(tmp_path / "run"),
        }
    )
    assert list(result.leaderboard["state"]) == ["complete", "complete"]
    proba = result.best.predict_proba(tiny_table(rows=6, seed=3))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
