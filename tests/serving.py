"""Helpers for tests of ``automl serve``: a tiny real bundle, and a real ``automl serve`` process
on a free loopback port, started, waited for and stopped.

The bundle learns the bad-input corpus's good ``train.csv`` (an id, a numeric ``x1``, a
categorical ``colour``, classes ``a`` and ``b``), so that every prediction-side case of
``tests/bad_inputs/`` applies to it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from automl._version import library_versions
from automl.data import FeatureSchema, fit_transform, prepare_features, typical_row
from automl.keras import LocalBackend
from automl.results import Member, ModelBundle
from automl.spec import ModelSpec
from automl.training import TrainSettings

CORPUS = Path(__file__).parent / "bad_inputs"
TRAIN = CORPUS / "good" / "train.csv"
TEST = CORPUS / "good" / "test.csv"
SCHEMA = FeatureSchema(("x1", "colour"), ("colour",))
READY_SECONDS = 180  # loading TensorFlow and warming up on a busy 2-core machine


def build_bundle(
    folder: Path, classes: tuple[str, ...] = ("a", "b"), hidden_units: tuple[int, ...] = (8,)
) -> Path:
    """Train a small Keras model (``hidden_units`` wide) on the corpus's good ``train.csv`` and
    save its bundle in ``folder`` (the class labels ``a`` and ``b`` renamed to ``classes``);
    return ``folder``."""
    table = pd.read_csv(TRAIN)
    features, _ = prepare_features(table[list(SCHEMA.columns)], TRAIN, set(SCHEMA.categorical))
    preprocessor, (x,) = fit_transform(SCHEMA, features)
    y = (table["label"] == "b").to_numpy().astype("int64")
    spec = ModelSpec(hidden_units=hidden_units, learning_rate=0.05)
    model = LocalBackend().fit(spec, x, y, 2, TrainSettings(max_epochs=20, seed=1), 20)
    info = {
        "target": "label",
        "example": typical_row(features),
        "architecture": " ".join(map(str, hidden_units)) + " relu",
        "final_model": "refit",
        "cv": {"metric": "log_loss", "mean": 0.5, "std": 0.1},
        "holdout": None,
        "versions": library_versions(),
    }
    ModelBundle([Member(model, preprocessor)], classes, SCHEMA, "id", info).save(folder)
    return folder


class Server:
    """A real ``automl serve SOURCE --port 0`` process; ready once its port file is written.

    Its standard output and error go to files in ``folder``, read with :meth:`output` and
    :meth:`errors`.
    """

    def __init__(
        self, source: Path, folder: Path, *args: str, env: dict[str, str] | None = None
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port_file = folder / "port"
        self._stdout = open(folder / "stdout.txt", "w")  # noqa: SIM115 - closed in stop()
        self._stderr = open(folder / "stderr.txt", "w")  # noqa: SIM115 - closed in stop()
        command = [sys.executable, "-m", "automl", "serve", str(source), "--port", "0"]
        command += ["--port-file", str(self.port_file), *args]
        self.process = subprocess.Popen(
            command,
            stdout=self._stdout,
            stderr=self._stderr,
            env={**os.environ, **(env or {})},
        )
        self.port = self._wait_for_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.port_file.is_file():
                return int(self.port_file.read_text())
            if self.process.poll() is not None:
                raise AssertionError(
                    f"automl serve exited {self.process.returncode}: {self.errors()}"
                )
            time.sleep(0.05)
        self.stop(signal.SIGKILL)
        raise AssertionError(f"automl serve not ready after {READY_SECONDS} s: {self.errors()}")

    def output(self) -> str:
        """What the server printed on standard output so far."""
        return (self.folder / "stdout.txt").read_text()

    def errors(self) -> str:
        """What the server wrote on standard error so far (its request log)."""
        return (self.folder / "stderr.txt").read_text()

    def stop(self, signum: int | None = signal.SIGTERM, timeout: float = 60) -> int:
        """Send ``signum`` (unless it is ``None`` or the process has ended), wait for the
        process to end, and return its exit status."""
        if signum is not None and self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._stdout.close()
        self._stderr.close()
        return code

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
