"""The contract of a distributed table: rows that stay where they are stored.

A backend that can train where the rows are (:class:`TableBackend`) opens the recipe's table as
a :class:`DistributedTable`. The table splits its rows into a holdout and folds where they are,
fits each fold's preprocessor from aggregations, trains and scores there, and hands this process
only counts, the class list, the preprocessor, metric sums and the model.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from automl.data import FeatureSchema
from automl.metrics import ScoreCounts
from automl.spec import ModelSpec
from automl.training._contract import EpochCallback, FoldResult, TrainSettings


@dataclass(frozen=True)
class TableSource:
    """Which table to read and how to split it, from the recipe.

    ``location`` is a Parquet path or URI, or a catalog table's name; ``categorical`` lists the
    categorical feature columns (``None``: text and boolean columns are). A row's holdout and
    fold follow from a hash of its ``id`` (or, without one, of all its values) and ``seed``, so a
    row keeps them wherever and whenever it is read.
    """

    location: str
    target: str
    id: str | None
    drop: tuple[str, ...]
    categorical: tuple[str, ...] | None
    holdout: float
    folds: int
    seed: int
    class_weight: str | Mapping[str, float]


class DistributedTable(abc.ABC):
    """A table the backend keeps where it is stored (see the module's description).

    ``classes`` are the target's labels in class-code order; ``schema`` the feature columns;
    ``search_rows`` and ``holdout_rows`` the sizes of the two parts; ``folds`` how many folds
    the search rows are split into.
    """

    classes: tuple[Any, ...]
    schema: FeatureSchema
    search_rows: int
    holdout_rows: int
    folds: int

    @abc.abstractmethod
    def evaluate(
        self,
        spec: ModelSpec,
        fold: int,
        settings: TrainSettings,
        on_epoch: EpochCallback | None = None,
    ) -> tuple[FoldResult, ScoreCounts]:
        """Train ``spec`` on every search fold but ``fold`` (its preprocessor fitted on those
        rows), with early stopping on ``fold``; the result (its ``valid_proba`` has no rows) and
        the kept weights' counts on ``fold``.

        Raises:
            automl.errors.TrialFailed: training cannot produce a model.
        """

    @abc.abstractmethod
    def fit(self, spec: ModelSpec, settings: TrainSettings, epochs: int) -> tuple[Any, Any]:
        """Train ``spec`` on every search row for ``epochs`` epochs: the Keras model and the
        preprocessor fitted on those rows."""

    @abc.abstractmethod
    def typical_row(self) -> dict[str, object]:
        """One row of typical values of the search rows: each numeric column's median (as
        approximate as the preprocessor's), each other column's most frequent value."""

    @abc.abstractmethod
    def score_holdout(self, spec: ModelSpec, model: Any, preprocessor: Any) -> ScoreCounts:
        """The counts of ``model`` (of ``spec``, after ``preprocessor``) on the holdout rows."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the table holds (cached rows). Called once after the search."""


class TableBackend(abc.ABC):
    """A backend that can search a table where it is stored (``data.distributed``)."""

    @abc.abstractmethod
    def open_table(self, source: TableSource) -> DistributedTable:
        """Read and split ``source`` where it is stored.

        Raises:
            automl.errors.UserError: in one line, what is wrong with the table.
        """
