"""A run, open: its folder, study, recipe and record, whether it just ended or ended long ago."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from automl.data import Dataset, load_dataset
from automl.errors import UserError
from automl.events import Stop, StopReason
from automl.recipe import Recipe, load_recipe
from automl.results import BUNDLE_FILE, ModelBundle, SearchResult, build_leaderboard
from automl.run._folder import RunFolder
from automl.tuning import connect_storage


class Run:
    """A run folder with its study, recipe and ``run.json``: what :meth:`open` gives back.

    Example:
        >>> run = automl.Run.open("runs/otto")  # doctest: +SKIP
        >>> run.leaderboard.head()  # doctest: +SKIP
        >>> run.best.predict(frame)  # doctest: +SKIP
    """

    def __init__(
        self,
        folder: RunFolder,
        study: optuna.Study,
        recipe: Recipe | None,
        record: dict[str, Any] | None,
        *,
        best: ModelBundle | None = None,
        holdout_rows: Dataset | None = None,
    ) -> None:
        self.folder = folder
        self.study = study
        self.recipe = recipe
        self.record = record
        self._best = best
        self._holdout_rows = holdout_rows

    @classmethod
    def open(cls, path: str | Path, *, storage: str | None = None) -> Run:
        """Open the run in folder ``path``, found through its ``run.json`` (or its ``study.db``).

        ``storage`` overrides the recorded study URL (run.json masks a database password).

        Raises:
            automl.errors.UserError: ``path`` holds no run.
        """
        folder = RunFolder(Path(path))
        record = folder.read_record()
        if record is not None:
            recipe = load_recipe(record["recipe"])
            url = storage or recipe.search.storage or folder.default_storage
            study = optuna.load_study(study_name=record["study"], storage=connect_storage(url))
            return cls(folder, study, recipe, record)
        if not folder.study_db.is_file():
            raise UserError(f"{folder.path}: not a run folder (no run.json or study.db)")
        rdb = connect_storage(storage or folder.default_storage)
        names = optuna.get_all_study_names(storage=rdb)
        if len(names) != 1:
            raise UserError(
                f"{folder.path}: study.db holds {len(names)} studies and no run.json names one"
            )
        return cls(folder, optuna.load_study(study_name=names[0], storage=rdb), None, None)

    @property
    def leaderboard(self) -> pd.DataFrame:
        """One row per trial, best first, read from the study."""
        return build_leaderboard(self.study)

    @functools.cached_property
    def best(self) -> ModelBundle | None:
        """The best model bundle, or ``None`` when the run wrote none."""
        if self._best is not None or not (self.folder.best / BUNDLE_FILE).is_file():
            return self._best
        return ModelBundle.load(self.folder.best)

    @property
    def holdout(self) -> dict[str, float] | None:
        """The best bundle's scores on the holdout rows, as the run recorded them."""
        scores: dict[str, float] | None = (self.record or {}).get("holdout")
        return scores

    @property
    def stop(self) -> Stop:
        """Why the run's last search stopped, as recorded."""
        record = self.record or {}
        if record.get("interrupted"):
            return Stop(StopReason.INTERRUPTED)
        detail = record.get("stopped") or ""
        return Stop(StopReason.FAILURES, detail) if detail else Stop()

    def holdout_rows(self) -> Dataset:
        """The rows the search set aside (the same split again when the run is reopened).

        Raises:
            automl.errors.UserError: the run kept no holdout, or its data is not on disk.
        """
        if self._holdout_rows is not None:
            return self._holdout_rows
        if self.recipe is None:
            raise UserError("the run folder has no run.json, which names the data")
        data = self.recipe.data
        if data.holdout == 0:
            raise UserError("the recipe keeps no holdout rows (data.holdout is 0)")
        if data.distributed:
            raise UserError("the holdout rows stay where the distributed table is stored")
        if data.train is None:
            raise UserError("the training rows were given in memory, so the holdout is not on disk")
        _, holdout = load_dataset(data).split_holdout(data.holdout, self.recipe.search.seed)
        assert holdout is not None  # data.holdout > 0
        self._holdout_rows = holdout
        return holdout

    def result(self) -> SearchResult:
        """The run as a :class:`~automl.results.SearchResult`."""
        return SearchResult(
            self.leaderboard, self.best, self.study, self.holdout, self.folder.path, self.stop
        )
