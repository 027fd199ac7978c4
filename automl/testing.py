"""The backend contract: what the engine relies on, as tests a plugin author runs on their backend.

One import and one class in the plugin's own tests::

    from automl.testing import BackendContract
    from my_backend import MyBackend

    class TestMyBackend(BackendContract):
        def make_backend(self):
            return MyBackend(workers=2)

pytest collects the inherited tests: result shape, one history value per epoch, early stopping
honoured, restored-best metrics consistent with the history, folds yielded in order, row weights
that weigh the training loss, a final model that ``automl predict`` can load from a bundle,
failures raised with a message, and no thread or child process left behind after ``close()``.
The data are tiny (fast on a laptop).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from automl.data import FeatureSchema, fit_transform
from automl.errors import TrialFailed
from automl.results import Member, ModelBundle
from automl.spec import ModelSpec
from automl.training import Backend, FoldData, TrainSettings

SPEC = ModelSpec(hidden_units=(8,), learning_rate=0.05, batch_size=16)


def tiny_table(rows: int = 90, seed: int = 0) -> pd.DataFrame:
    """Three separable classes over two numeric features, with an id column."""
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % 3
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "a": y + rng.normal(scale=0.4, size=rows),
            "b": -y + rng.normal(scale=0.4, size=rows),
            "label": y,
        }
    )


def tiny_fold(rows: int = 90, seed: int = 0) -> FoldData:
    """A fold of :func:`tiny_table`: two thirds to train, one third to validate."""
    table = tiny_table(rows, seed)
    x = table[["a", "b"]].to_numpy(np.float32)
    y = table["label"].to_numpy(np.int64)
    cut = rows * 2 // 3
    return FoldData(x[:cut], y[:cut], x[cut:], y[cut:], n_classes=3)


class BackendContract:
    """Inherit in a ``Test...`` class and override :meth:`make_backend`."""

    def make_backend(self) -> Backend:
        """Return a new backend to test; the suite closes it."""
        raise NotImplementedError("override make_backend() to return your backend")

    @pytest.fixture(scope="class")
    @classmethod
    def backend(cls):
        """One backend for the class's tests (workers and sessions start once), then closed."""
        made = cls().make_backend()
        yield made
        made.close()

    def test_evaluate_returns_a_complete_fold_result(self, backend: Backend) -> None:
        data = tiny_fold()
        result = backend.evaluate(SPEC, data, TrainSettings(max_epochs=3, patience=3))
        assert result.valid_proba.shape == (len(data.y_valid), data.n_classes)
        np.testing.assert_allclose(result.valid_proba.sum(axis=1), 1.0, atol=1e-5)
        assert 1 <= result.best_epoch <= result.epochs_run == 3
        assert result.seconds > 0 and result.n_params == 2 * 8 + 8 + 8 * 3 + 3
        assert result.model is not None

    def test_history_has_one_value_per_epoch(self, backend: Backend) -> None:
        result = backend.evaluate(SPEC, tiny_fold(), TrainSettings(max_epochs=4, patience=4))
        for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
            assert len(result.history[key]) == result.epochs_run, key

    def test_early_stopping_is_honoured(self, backend: Backend) -> None:
        settings = TrainSettings(max_epochs=30, patience=2, min_delta=100.0)
        result = backend.evaluate(SPEC, tiny_fold(), settings)
        assert (result.epochs_run, result.best_epoch) == (3, 1)

    def test_restored_best_epoch_matches_the_probabilities(self, backend: Backend) -> None:
        from sklearn.metrics import log_loss

        data = tiny_fold()
        result = backend.evaluate(SPEC, data, TrainSettings(max_epochs=5, patience=5))
        best = result.history["val_loss"][result.best_epoch - 1]
        assert best == pytest.approx(min(result.history["val_loss"]))
        kept = log_loss(data.y_valid, result.valid_proba, labels=range(data.n_classes))
        assert kept == pytest.approx(best, abs=1e-3)

    def test_folds_come_back_in_order(self, backend: Backend) -> None:
        folds = [(tiny_fold(seed=s), TrainSettings(max_epochs=1, seed=s)) for s in range(3)]
        results = list(backend.evaluate_folds(SPEC, folds))
        assert len(results) == 3
        for (data, _), result in zip(folds, results, strict=True):
            assert result.valid_proba.shape[0] == len(data.y_valid)

    def test_closing_the_folds_early_stops_cleanly(self, backend: Backend) -> None:
        folds = [(tiny_fold(seed=s), TrainSettings(max_epochs=1, seed=s)) for s in range(3)]
        results = backend.evaluate_folds(SPEC, folds)
        first = next(iter(results))
        getattr(results, "close", lambda: None)()
        assert first.epochs_run == 1

    def test_row_weights_weigh_the_training_loss(self, backend: Backend) -> None:
        """Rows of class 0 weighted 10 (``FoldData.w_train``, ``fit``'s ``sample_weight``) make
        the fold's model and the final model predict class 0 more often than unweighted."""
        from automl.keras import predict_proba

        data = tiny_fold()
        heavy = np.where(data.y_train == 0, 10.0, 1.0)
        settings = TrainSettings(max_epochs=2, patience=2, restore_best_weights=False)
        plain = backend.evaluate(SPEC, data, settings).valid_proba[:, 0].mean()
        weighted = backend.evaluate(SPEC, replace(data, w_train=heavy), settings)
        assert weighted.valid_proba[:, 0].mean() > plain + 0.05
        x, y = data.x_train, data.y_train
        models = [backend.fit(SPEC, x, y, 3, settings, 2, w) for w in (None, heavy)]
        plain, weighted = (predict_proba(m, data.x_valid)[:, 0].mean() for m in models)
        assert weighted > plain + 0.05

    def test_final_model_makes_a_bundle_that_predict_loads(
        self, backend: Backend, tmp_path: Path
    ) -> None:
        from click.testing import CliRunner

        from automl.cli import cli

        table = tiny_table()
        schema = FeatureSchema(("a", "b"), ())
        preprocessor, (x,) = fit_transform(schema, table[["a", "b"]])
        model = backend.fit(SPEC, x, table["label"].to_numpy(), 3, TrainSettings(1), epochs=2)
        bundle = ModelBundle([Member(model, preprocessor)], (0, 1, 2), schema, "id")
        bundle.save(tmp_path / "best")
        table.drop(columns="label").to_csv(tmp_path / "rows.csv", index=False)
        out = tmp_path / "predictions.csv"
        done = CliRunner().invoke(
            cli, ["predict", str(tmp_path / "best"), str(tmp_path / "rows.csv"), "-o", str(out)]
        )
        assert done.exit_code == 0, done.output
        assert list(pd.read_csv(out).columns) == ["id", "label", "0", "1", "2"]

    def test_a_failure_is_an_exception_with_a_message(self, backend: Backend) -> None:
        data = tiny_fold()
        poisoned = FoldData(data.x_train * 1e30, data.y_train, data.x_valid, data.y_valid, 3)
        spec = ModelSpec(hidden_units=(4,), optimizer="sgd", learning_rate=1e6)
        with pytest.raises(TrialFailed) as raised:
            backend.evaluate(spec, poisoned, TrainSettings(max_epochs=3))
        assert str(raised.value)

    def test_close_leaves_no_threads_or_processes(self) -> None:
        threads, children = _python_threads(), _child_processes()
        made = self.make_backend()
        made.evaluate(SPEC, tiny_fold(), TrainSettings(max_epochs=1))
        made.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            _python_threads() - threads or _child_processes() - children
        ):
            time.sleep(0.1)
        assert _python_threads() - threads == set()
        assert _child_processes() - children == set()


def _python_threads() -> set[str]:
    return {f"{t.name}:{t.ident}" for t in threading.enumerate() if t.is_alive()}


def _child_processes() -> set[int]:
    """Live child processes of this one (Linux /proc; empty elsewhere)."""
    children: set[int] = set()
    proc = Path("/proc")
    if not proc.is_dir():
        return children
    me = str(os.getpid())
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            children.add(int(entry.name))
    return children
