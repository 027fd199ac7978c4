"""The run folder: every path of a run, its lock, ``--fresh`` and the recovery after a kill.

A run folder holds::

    study.db                 the Optuna study (SQLite, unless search.storage names a database)
    leaderboard.csv/.md      one row per trial, best first
    best/                    the model bundle
    run.json                 the recipe as resolved, versions, timings, holdout scores
    predictions.csv          the best model's labels and probabilities for data.test
    trials/<key>/            a complete trial's fold models and out-of-fold predictions
    reference/ ...           the references' fold models (also extra_trees/, catboost/, lightgbm/)
    report.html and PNGs     the report
    .automl.lock             held while the best bundle is written, when processes share a study
    study.db.lock            held by the one process a SQLite study takes at a time

Every write is atomic (:mod:`automl._files`), so a killed run leaves whole files and temporaries
that :meth:`RunFolder.prepare` clears.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock

from automl._files import recover, write_text
from automl.errors import UserError
from automl.results import REFERENCE_ATTRS, to_markdown

STUDY_FILE = "study.db"
RUN_FILE = "run.json"
LOCK_FILE = ".automl.lock"


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder, and what is done to it as a whole."""

    path: Path

    @property
    def study_db(self) -> Path:
        """The SQLite study, when the recipe names no database."""
        return self.path / STUDY_FILE

    @property
    def default_storage(self) -> str:
        """The storage URL of :attr:`study_db`."""
        return f"sqlite:///{self.study_db.resolve()}"

    @property
    def record(self) -> Path:
        """``run.json``."""
        return self.path / RUN_FILE

    @property
    def recipe(self) -> Path:
        """``recipe.yaml``: the run's resolved recipe, to read, edit and run again."""
        return self.path / "recipe.yaml"

    @property
    def best(self) -> Path:
        """The best model bundle's folder."""
        return self.path / "best"

    @property
    def trials(self) -> Path:
        """The folder of the trials' stored fold models, for the ensemble."""
        return self.path / "trials"

    @property
    def leaderboard_csv(self) -> Path:
        """``leaderboard.csv``."""
        return self.path / "leaderboard.csv"

    @property
    def leaderboard_md(self) -> Path:
        """``leaderboard.md``."""
        return self.path / "leaderboard.md"

    @property
    def predictions(self) -> Path:
        """The best model's predictions for ``data.test``."""
        return self.path / "predictions.csv"

    @property
    def report(self) -> Path:
        """``report.html`` (its figures lie beside it)."""
        return self.path / "report.html"

    def reference(self, name: str) -> Path:
        """The folder of the reference called ``name`` (its fold models)."""
        return self.path / name

    def results(self) -> list[Path]:
        """Everything a search writes besides the study and the report: what ``--fresh``
        removes."""
        folders = [self.best, self.trials, *(self.reference(n) for n in REFERENCE_ATTRS)]
        files = [self.leaderboard_csv, self.leaderboard_md, self.record, self.predictions]
        return folders + files

    def prepare(self) -> list[str]:
        """Make the folder (or check the one there) and clear what killed writes left in it;
        return the paths cleared.

        Raises:
            automl.errors.UserError: the path is a file, or the folder cannot be made or written.
        """
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"output: {self.path} is a file, expected a folder")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"output: cannot create {self.path}: {exc.strerror}") from None
        if not os.access(self.path, os.W_OK):
            raise UserError(f"output: {self.path} is not writable")
        return recover(self.path)

    def check_writable(self) -> None:
        """Refuse a run folder that is a file, lies under a file, or is in a folder not writable
        (without making anything).

        Raises:
            automl.errors.UserError: naming the folder and what is in the way.
        """
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"output: {self.path} is a file, expected a folder")
        existing = self.path
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise UserError(f"output: cannot create {self.path}: {existing} is a file")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise UserError(f"output: cannot create {self.path}: {existing} is not writable")

    def clear_results(self) -> None:
        """Remove what an earlier search wrote (``--fresh``); the study is the caller's."""
        for path in self.results():
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def only_writer(self) -> Iterator[None]:
        """Hold the folder while the best bundle is chosen and written: a second process on the
        same study and folder waits, then finds the bundle written and keeps it."""
        with FileLock(self.path / LOCK_FILE, thread_local=False):
            yield

    def write_leaderboard(self, board: pd.DataFrame) -> None:
        """Write ``leaderboard.csv`` and ``leaderboard.md`` atomically."""
        write_text(self.leaderboard_csv, board.to_csv(index=False))
        write_text(self.leaderboard_md, to_markdown(board))

    def read_record(self) -> dict[str, Any] | None:
        """``run.json`` as written, or ``None`` when the folder has none."""
        if not self.record.is_file():
            return None
        record: dict[str, Any] = json.loads(self.record.read_text(encoding="utf-8"))
        return record
