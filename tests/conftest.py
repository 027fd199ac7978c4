"""Shared fixtures: tiny real data, tiny recipes, the Otto file when it is there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sample_tables import make_table

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

OTTO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "otto" / "train.csv.gz"


@pytest.fixture
def table_csv(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    make_table().to_csv(path, index=False)
    return path


@pytest.fixture
def recipe_dict(table_csv: Path, tmp_path: Path) -> dict:
    """A recipe that searches a tiny space for 3 trials of 2 folds and 2 epochs."""
    return {
        "name": "tiny",
        "data": {"train": str(table_csv), "target": "label", "id": "id", "holdout": 0.2},
        "search": {"trials": 3, "folds": 2, "seed": 1, "pruner": "none"},
        "space": {
            "layers": {"low": 1, "high": 2},
            "units": {"low": 4, "high": 16},
            "activation": ["relu", "tanh"],
            "optimizer": "adam",
            "learning_rate": 0.01,
            "batch_size": 32,
        },
        "training": {"max_epochs": 2, "early_stopping": {"patience": 2}},
        "output": str(tmp_path / "run"),
    }


@pytest.fixture
def otto_path() -> Path:
    if not OTTO.is_file():
        pytest.skip(f"the Otto data is not at {OTTO} (it lives beside the repository, in shared/)")
    return OTTO
