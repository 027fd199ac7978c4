"""A search's table kept on the executors (``data.distributed``): read, split and preprocessed by
Spark, trained and scored by the Spark backends where its rows are.

The table is a Parquet location or a catalog table. Each row's holdout and fold are columns
computed from a hash of its id (or, without ``data.id``, of all its values) and the seed, so a
cache block Spark recomputes keeps them. Folds are not stratified: on a table large enough to
need Spark, hashing gives each fold its share of every class.

For each fold (and each transform a trial asks for) the preprocessor is fitted from Spark
aggregations of that fold's training rows (:mod:`automl_spark.preprocess`); the tasks turn the
rows into the network's input with it, and the backend trains and scores them. Only counts, the
class list, the preprocessors, metric sums and the model reach the driver.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from automl.data import FeatureSchema, class_weights_from_counts
from automl.errors import UserError
from automl.metrics import ScoreCounts
from automl.spec import ModelSpec
from automl.training import (
    DistributedTable,
    EpochCallback,
    FoldResult,
    TableSource,
    TrainSettings,
)
from automl_spark.barrier import spark_reason
from automl_spark.checks import distributed_classes
from automl_spark.frames import FOLD, LABEL, WEIGHT, training_rows
from automl_spark.preprocess import distinct_values, fit_preprocessor, network_rows

HOLDOUT_FOLD = -1  # the fold of the rows the search never sees
_BUCKETS = 1_000_000  # the holdout's resolution: a row is held out when its bucket is below
_NUMERIC = {"tinyint", "smallint", "int", "bigint", "float", "double", "boolean"}
_ROW_COLUMNS = [LABEL, WEIGHT, FOLD]


class SparkTable(DistributedTable):
    """A :class:`~automl.training.DistributedTable` read by ``session`` and trained by
    ``trainer``, the Spark backend that opened it (see the module's description): its
    ``evaluate_frame``, ``fit_frame`` and ``score_frame`` train and score a frame of network
    rows where they are.

    Raises:
        UserError: the table cannot be read, a named column is missing, a feature column has a
            type the preprocessor cannot take, the target has fewer than two classes or a
            missing value, or a fold has no rows.
    """

    def __init__(self, session: Any, trainer: Any, source: TableSource) -> None:
        from pyspark.sql import functions as F

        self._trainer = trainer
        self._location = source.location
        raw = _read(session, source.location)
        self.schema = _feature_schema(raw, source)
        try:
            self.classes = distributed_classes(raw, source.target)
        except ValueError as exc:
            raise UserError(f"{source.location}: target {exc}") from None
        codes = F.array_position(F.array(*[F.lit(c) for c in self.classes]), F.col(source.target))
        tagged = raw.select(
            *self.schema.columns, (codes - 1).cast("int").alias(LABEL), fold_column(raw, source)
        )
        counts = np.zeros((source.folds, len(self.classes)), dtype=np.int64)
        holdout = 0
        for row in tagged.groupBy(FOLD, LABEL).count().collect():
            if row[FOLD] == HOLDOUT_FOLD:
                holdout += int(row["count"])
            else:
                counts[row[FOLD], row[LABEL]] = int(row["count"])
        empty = np.flatnonzero(counts.sum(axis=1) == 0)
        if len(empty):
            raise UserError(
                f"{source.location}: fold {empty[0] + 1} of {source.folds} has no rows; the "
                "table is too small for search.folds"
            )
        weights = class_weights_from_counts(self.classes, counts.sum(axis=0), source.class_weight)
        self._weighted = weights is not None
        weight = F.lit(1.0) if weights is None else F.array(*map(F.lit, weights))[F.col(LABEL)]
        self._rows = tagged.withColumn(WEIGHT, weight.cast("float")).persist()
        self.search_rows, self.holdout_rows = int(counts.sum()), holdout
        self.folds = source.folds
        self._preprocessors: dict[tuple[int | None, str], Any] = {}

    def evaluate(
        self,
        spec: ModelSpec,
        fold: int,
        settings: TrainSettings,
        on_epoch: EpochCallback | None = None,
    ) -> tuple[FoldResult, ScoreCounts]:
        """Train on the search folds but ``fold``, with early stopping on ``fold``; the result and
        its counts on ``fold``."""
        frame = self._network_rows(self._preprocessor(fold, spec.transform), searched=True)
        n_classes = len(self.classes)
        return self._trainer.evaluate_frame(
            spec, frame, n_classes, settings, fold, self._weighted, on_epoch
        )

    def fit(self, spec: ModelSpec, settings: TrainSettings, epochs: int) -> tuple[Any, Any]:
        """Train on every search row for ``epochs`` epochs; the model and its preprocessor."""
        preprocessor = self._preprocessor(None, spec.transform)
        frame = self._network_rows(preprocessor, searched=True)
        model = self._trainer.fit_frame(
            spec, frame, len(self.classes), settings, epochs, self._weighted
        )
        return model, preprocessor

    def typical_row(self) -> dict[str, object]:
        """Each numeric column's median and each categorical column's most frequent value, over
        the search rows."""
        from pyspark.sql import functions as F

        fitted = [p for (fold, _), p in self._preprocessors.items() if fold is None]
        preprocessor = fitted[0] if fitted else self._preprocessor(None, "none")  # its medians
        searched = self._rows.where(F.col(FOLD) >= 0)
        row: dict[str, object] = {
            c: distinct_values(searched, c)[0] for c in self.schema.categorical
        }
        for name, steps, columns in preprocessor.named_steps["columns"].transformers_:
            if name == "numeric":
                medians = steps.named_steps["impute"].statistics_
                row |= {c: float(m) for c, m in zip(columns, medians, strict=True)}
        return {column: row.get(column) for column in self.schema.columns}

    def score_holdout(self, spec: ModelSpec, model: Any, preprocessor: Any) -> ScoreCounts:
        """The counts of ``model`` (of ``spec``, after ``preprocessor``) on the holdout rows."""
        frame = self._network_rows(preprocessor, searched=False)
        return self._trainer.score_frame(spec, model, frame, HOLDOUT_FOLD)

    def close(self) -> None:
        """Drop the cached rows."""
        self._rows.unpersist()

    def _preprocessor(self, fold: int | None, transform: str) -> Any:
        """The preprocessor fitted on the search rows outside ``fold`` (all of them for
        ``None``), made once per fold and transform."""

        key = (fold, transform)
        if key not in self._preprocessors:
            rows = self._rows.where(training_rows(fold))
            self._preprocessors[key] = fit_preprocessor(rows, self.schema, transform)
        return self._preprocessors[key]

    def _network_rows(self, preprocessor: Any, searched: bool) -> Any:
        """The search rows (or the holdout rows) as the network's input, by ``preprocessor``."""
        from pyspark.sql import functions as F

        part = F.col(FOLD) >= 0 if searched else F.col(FOLD) == HOLDOUT_FOLD
        return network_rows(self._rows.where(part), self.schema, preprocessor, _ROW_COLUMNS)


def _read(session: Any, location: str) -> Any:
    """A Parquet location (a path or URI), or else a catalog table, as a DataFrame.

    Raises:
        UserError: Spark cannot read it.
    """
    is_path = "/" in location or location.lower().endswith((".parquet", ".pq"))
    try:
        frame = session.read.parquet(location) if is_path else session.table(location)
        frame.schema  # noqa: B018 - resolves the table (over Spark Connect, on the server)
    except Exception as exc:  # Spark's AnalysisException, or its Connect client's
        what = "Parquet" if is_path else "a catalog table"
        raise UserError(f"{location}: cannot read as {what}: {spark_reason(exc)}") from None
    return frame


def _feature_schema(frame: Any, source: TableSource) -> FeatureSchema:
    """The feature columns (all but the target, id and dropped ones), numeric or categorical
    by their Spark type: numbers and booleans are numeric, text is categorical (or only the
    columns ``data.categorical`` lists).

    Raises:
        UserError: a named column is missing, or a feature column has another type.
    """
    types = {field.name: field.dataType.simpleString() for field in frame.schema.fields}
    named = [("data.target", source.target), ("data.id", source.id)]
    named += [("data.drop", column) for column in source.drop]
    named += [("data.categorical", column) for column in source.categorical or ()]
    for field, column in named:
        if column is not None and column not in types:
            shown = ", ".join(list(types)[:8]) + (", ..." if len(types) > 8 else "")
            raise UserError(f"{source.location}: {field}: no column '{column}'; columns: {shown}")
    left_out = {source.target, source.id, *source.drop}
    columns = [c for c in types if c not in left_out]
    if not columns:
        raise UserError(f"{source.location}: no feature columns left after target, id and drop")
    for column in columns:
        kind = types[column]
        if kind not in _NUMERIC and kind != "string" and not kind.startswith("decimal"):
            raise UserError(
                f"{source.location}: column '{column}' is of type {kind}; list it under "
                "data.drop, or store it as a number or as text"
            )
    if source.categorical is None:
        categorical = tuple(c for c in columns if types[c] == "string")
    else:
        categorical = tuple(c for c in columns if c in source.categorical)
    return FeatureSchema(tuple(columns), categorical)


def fold_column(frame: Any, source: TableSource) -> Any:
    """A row's fold as a column: ``-1`` for the holdout, else ``0 .. folds - 1``, from a hash of
    the row's id (or of all its values) and the seed."""
    from pyspark.sql import functions as F

    key = [F.col(source.id)] if source.id is not None else [F.col(c) for c in frame.columns]
    held_out = F.pmod(F.xxhash64(F.lit("holdout"), F.lit(source.seed), *key), F.lit(_BUCKETS))
    fold = F.pmod(F.xxhash64(F.lit("fold"), F.lit(source.seed), *key), F.lit(source.folds))
    threshold = round(source.holdout * _BUCKETS)
    return F.when(held_out < threshold, HOLDOUT_FOLD).otherwise(fold).cast("int").alias(FOLD)
