"""The fitted pyspark.ml Model: distributed inference with an automl bundle, saved as the bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.ml import Model
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.util import (
    DefaultParamsReader,
    DefaultParamsWriter,
    MLReadable,
    MLReader,
    MLWritable,
    MLWriter,
)
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from automl.results import ModelBundle
from automl_spark.ml._inference import bundle_files, bundle_on_worker, predict_arrow
from automl_spark.ml._params import ColumnParams
from automl_spark.session import threads_per_task

_BUNDLE = "bundle"


class AutoMLModel(ColumnParams, Model, MLWritable, MLReadable):
    """Adds ``probabilityCol`` (a vector, one entry per class in :attr:`classes` order) and
    ``predictionCol`` (the most probable class) to every row; other columns are kept as they are.

    Args:
        bundle: the automl model bundle to predict with (its preprocessor runs on the features).
        leaderboard: the search's leaderboard, when the model came from a search.
    """

    def __init__(self, bundle: ModelBundle | None = None, leaderboard: Any = None) -> None:
        super().__init__()
        self.bundle = bundle
        self.leaderboard = leaderboard
        self._shipped: tuple[Any, str, Any] | None = None  # (SparkContext, key, broadcast)

    @property
    def classes(self) -> tuple:
        """The class labels, in the order of the probability vector."""
        return tuple(self._bundle().classes)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        bundle = self._bundle()
        key, files = self._broadcast(dataset.sparkSession.sparkContext)
        threads = threads_per_task(dataset.sparkSession)
        column = self.getFeaturesCol()

        def probabilities(features: pa.Array) -> pa.Array:  # Arrow UDFs are told by their hints
            return predict_arrow(bundle_on_worker(key, files.value, threads), features, column)

        # pyspark's stubs lack the type-hint form (no functionType) that its docs recommend
        udf = F.arrow_udf(probabilities, "array<double>")  # type: ignore[call-overload]
        proba = f"__{self.uid}_proba"
        labels = F.array(*[F.lit(label) for label in bundle.classes])
        best = F.array_position(F.col(proba), F.array_max(F.col(proba))).cast("int")
        return (
            dataset.withColumn(proba, udf(vector_to_array(F.col(column))))
            .withColumn(self.getProbabilityCol(), array_to_vector(F.col(proba)))
            .withColumn(self.getPredictionCol(), F.element_at(labels, best))
            .drop(proba)
        )

    def _broadcast(self, context: Any) -> tuple[str, Any]:
        """The bundle's files broadcast once per SparkContext, with their content hash."""
        if self._shipped is None or self._shipped[0] is not context:
            key, files = bundle_files(self._bundle())
            self._shipped = (context, key, context.broadcast(files))
        return self._shipped[1], self._shipped[2]

    def _bundle(self) -> ModelBundle:
        if self.bundle is None:
            raise ValueError("this AutoMLModel holds no bundle; fit an AutoMLEstimator or load one")
        return self.bundle

    def write(self) -> MLWriter:
        """A writer that saves the params and the bundle (``model.write().save(path)``)."""
        return _ModelWriter(self)

    @classmethod
    def read(cls) -> MLReader:
        """A reader for folders written by :meth:`write` (``AutoMLModel.load(path)``)."""
        return _ModelReader()


class _ModelWriter(MLWriter):
    """Saves ``metadata/`` (the params, as pyspark.ml does) and ``bundle/`` (an automl bundle).

    The path is a local (or locally mounted) folder: the bundle is written with plain files.
    """

    def __init__(self, instance: AutoMLModel) -> None:
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        DefaultParamsWriter.saveMetadata(self.instance, path, self.sparkSession)
        self.instance._bundle().save(_local(path) / _BUNDLE)


class _ModelReader(MLReader):
    def load(self, path: str) -> AutoMLModel:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        model = AutoMLModel(ModelBundle.load(_local(path) / _BUNDLE))
        model._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(model, metadata)
        return model


def _local(path: str) -> Path:
    """A local folder for a path that may carry the ``file:`` scheme."""
    return Path(path.removeprefix("file://").removeprefix("file:"))
