"""The fitted pyspark.ml Model: distributed inference with an automl bundle, saved by Spark.

The model saves through Spark's own writers, so it goes wherever the cluster can write
(``file://``, ``hdfs://``, ``s3a://``, ``abfss://``, a relative path): ``metadata/`` holds the
params as pyspark.ml writes them, and ``bundle.parquet`` the bundle's files as rows of (file,
chunk, bytes). Loading reads them back, checks every file's sha256 against ``bundle.json`` and
loads the bundle without running code from it. A folder saved in the earlier layout (a local
``bundle/`` folder beside ``metadata/``) still loads.
"""

from __future__ import annotations

import shutil
import tempfile
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
from automl_spark.ml._inference import (
    BundleFiles,
    bundle_files,
    bundle_on_worker,
    files_from_rows,
    files_to_rows,
    predict_arrow,
)
from automl_spark.ml._params import ColumnParams
from automl_spark.session import threads_per_task

_BUNDLE_ROWS = "bundle.parquet"
_OLD_BUNDLE = "bundle"  # the earlier layout: a local folder


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
        self._files: BundleFiles | None = None

    @property
    def classes(self) -> tuple:
        """The class labels, in the order of the probability vector."""
        return tuple(self._bundle().classes)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        bundle = self._bundle()
        files = self._bundle_files()  # travel in the UDF's closure; each worker loads them once
        threads = threads_per_task(dataset.sparkSession)
        column = self.getFeaturesCol()

        def probabilities(features: pa.Array) -> pa.Array:  # Arrow UDFs are told by their hints
            return predict_arrow(bundle_on_worker(files, threads), features, column)

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

    def _bundle_files(self) -> BundleFiles:
        """The bundle's files and their content hash, made once."""
        if self._files is None:
            self._files = bundle_files(self._bundle())
        return self._files

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
    """Saves ``metadata/`` (the params, as pyspark.ml does) and ``bundle.parquet`` (the bundle's
    files), both through the session's DataFrame writers."""

    def __init__(self, instance: AutoMLModel) -> None:
        super().__init__()
        self.instance = instance

    def _handleOverwrite(self, path: str) -> None:
        """Nothing to remove first: with ``overwrite()`` the writers below replace what is there
        (pyspark's own removal goes through the JVM, which a Spark Connect client lacks)."""

    def saveImpl(self, path: str) -> None:
        mode = "overwrite" if self.shouldOverwrite else "errorifexists"
        metadata = DefaultParamsWriter._get_metadata_to_save(self.instance, self.sparkSession)
        lines = self.sparkSession.createDataFrame([(metadata,)], schema=["value"]).coalesce(1)
        lines.write.mode(mode).text(_join(path, "metadata"))
        rows = files_to_rows(self.instance._bundle_files())
        frame = self.sparkSession.createDataFrame(rows).coalesce(1)
        frame.write.mode(mode).parquet(_join(path, _BUNDLE_ROWS))


class _ModelReader(MLReader):
    def load(self, path: str) -> AutoMLModel:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        model = AutoMLModel(_load_bundle(self.sparkSession, path))
        model._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(model, metadata)
        return model


def _load_bundle(session: Any, path: str) -> ModelBundle:
    """The bundle saved at ``path``: from its rows, or from a local folder of the old layout."""
    local = _local(path)
    old_layout = local is not None and not (local / _BUNDLE_ROWS).exists()
    if old_layout and local is not None and (local / _OLD_BUNDLE / "bundle.json").is_file():
        return ModelBundle.load(local / _OLD_BUNDLE)
    files = files_from_rows(session.read.parquet(_join(path, _BUNDLE_ROWS)).toArrow())
    folder = Path(tempfile.mkdtemp(prefix="automl-spark-model-"))
    try:
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        return ModelBundle.load(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _join(path: str, name: str) -> str:
    """``name`` inside the folder ``path`` (a local path or any URI Spark writes to)."""
    return f"{path.rstrip('/')}/{name}"


def _local(path: str) -> Path | None:
    """The local folder of a path without a scheme or with ``file:``; ``None`` for other URIs."""
    if path.startswith("file:"):
        return Path(path.removeprefix("file://").removeprefix("file:"))
    return None if "://" in path else Path(path)
