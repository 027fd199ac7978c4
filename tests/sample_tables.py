"""The tests' small tables, importable by a name no plugin's conftest shadows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from automl.keras import LocalBackend
from automl.training import FoldData


def make_table(rows: int = 90, seed: int = 0) -> pd.DataFrame:
    """Three separable classes with string labels, a categorical column, a gap and an id."""
    rng = np.random.default_rng(seed)
    labels = np.array(["Class_10", "Class_2", "Class_1"])[np.arange(rows) % 3]
    centre = (np.arange(rows) % 3).astype(float)
    table = pd.DataFrame(
        {
            "id": np.arange(1000, 1000 + rows),
            "x1": centre * 2 + rng.normal(scale=0.5, size=rows),
            "x2": -centre + rng.normal(scale=0.5, size=rows),
            "colour": np.array(["red", "green", "blue"])[(np.arange(rows) + 1) % 3],
            "label": labels,
        }
    )
    table.loc[5, "x2"] = np.nan
    return table


def blobs(rows: int = 120, seed: int = 0) -> FoldData:
    """One fold of three Gaussian classes in 4 features: two thirds train, one third validate."""
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % 3
    x = (rng.normal(size=(rows, 4)) + y[:, None]).astype(np.float32)
    cut = rows * 2 // 3
    return FoldData(x[:cut], y[:cut], x[cut:], y[cut:], n_classes=3)


class ThreadsReporting(LocalBackend):
    """A backend of a plugin's own that declares itself process-safe: its folds report the
    threads its worker process was set up with (``None`` when it trains in the search's
    process)."""

    threads: int | None = None

    def configure_process(self, threads: int) -> None:
        """Remember the worker's share of the cores, then set TensorFlow up as the local one."""
        self.threads = threads
        super().configure_process(threads)

    def evaluate(self, spec: Any, data: FoldData, settings: Any, on_epoch: Any = None) -> Any:
        """The local backend's fold, with the worker's threads added to its history."""
        result = super().evaluate(spec, data, settings, on_epoch)
        result.history["worker_threads"] = [float(self.threads or 0)] * result.epochs_run
        return result
