"""The pyspark.ml Estimator: an automl search (or one fixed network) on a DataFrame's vectors."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark.ml import Estimator
from pyspark.ml.functions import vector_to_array
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasWeightCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from automl.data import FeatureSchema, check_row_weights, fit_transform, load_dataset
from automl.plugins import registry
from automl.recipe import DataConfig, load_recipe
from automl.results import Member, ModelBundle
from automl.run import run_recipe
from automl.spec import ModelSpec
from automl.training import Backend, TrainSettings
from automl_spark.checks import check_distributed_weights, distributed_classes
from automl_spark.frames import FOLD, LABEL, TRAIN_FOLD, WEIGHT
from automl_spark.ml._model import AutoMLModel
from automl_spark.ml._params import ColumnParams
from automl_spark.preprocess import fit_preprocessor, network_rows
from automl_spark.synchronous import SparkSyncBackend

_TARGET = "label"


class AutoMLEstimator(
    ColumnParams, HasWeightCol, Estimator, DefaultParamsWritable, DefaultParamsReadable
):
    """Fits an :class:`AutoMLModel` on a DataFrame with a features vector and a label column.

    With ``spec`` it trains that one network for ``epochs`` epochs; otherwise it runs the search
    ``recipe`` describes (a YAML path or a dict; its ``data`` section is ignored: the rows are the
    DataFrame's) and keeps the best bundle. Spark backends (``spark-sync``, ``spark-async``)
    train in the DataFrame's own SparkSession (classic or Spark Connect). A fixed network on a
    Spark backend trains where the rows are: the preprocessor is fitted from Spark aggregations
    and only counts, the class list, statistics, the model's state and metric sums reach the
    driver. A search, or another backend, collects the rows to the driver. Inference
    (:meth:`AutoMLModel.transform`) runs on the executors.

    Args:
        recipe: the search to run (path or dict), when ``spec`` is not given.
        spec: a fixed network (a :class:`~automl.spec.ModelSpec` as a dict) to train instead.
        epochs: epochs for the fixed network.
        backend: the backend that trains the fixed network (the recipe names its own).
        backendOptions: that backend's options.
        seed: seed of the fixed network's weights.
        weightCol: a numeric column of row weights (finite, >= 0) that scale each row's training
            loss, times its class's weight (``training.class_weight``); unset or empty: every row
            weighs 1. Scores stay unweighted.
    """

    recipe: Param[str | dict[str, Any]] = Param(
        Params._dummy(), "recipe", "search recipe: YAML path or dict"
    )
    spec: Param[dict[str, Any]] = Param(
        Params._dummy(), "spec", "a fixed network to train (ModelSpec as a dict)"
    )
    epochs = Param(Params._dummy(), "epochs", "epochs for the fixed network", TypeConverters.toInt)
    backend = Param(
        Params._dummy(), "backend", "backend for the fixed network", TypeConverters.toString
    )
    backendOptions: Param[dict[str, Any]] = Param(
        Params._dummy(), "backendOptions", "options of that backend"
    )
    seed = Param(Params._dummy(), "seed", "seed of the fixed network", TypeConverters.toInt)

    def __init__(
        self,
        *,
        recipe: str | dict[str, Any] | None = None,
        spec: dict[str, Any] | None = None,
        epochs: int = 10,
        backend: str = "local",
        backendOptions: dict[str, Any] | None = None,
        seed: int = 0,
        featuresCol: str = "features",
        labelCol: str = "label",
        predictionCol: str = "prediction",
        probabilityCol: str = "probability",
        weightCol: str | None = None,
    ) -> None:
        super().__init__()
        self._setDefault(epochs=10, backend="local", backendOptions={}, seed=0)
        self._set(
            epochs=epochs,
            backend=backend,
            backendOptions=backendOptions or {},
            seed=seed,
            featuresCol=featuresCol,
            labelCol=labelCol,
            predictionCol=predictionCol,
            probabilityCol=probabilityCol,
        )
        if weightCol:
            self._set(weightCol=weightCol)
        if recipe is not None:
            self._set(recipe=str(recipe) if isinstance(recipe, Path) else recipe)
        if spec is not None:
            self._set(spec=spec)

    def _fit(self, dataset: DataFrame) -> AutoMLModel:
        if not self.isDefined(self.spec):
            return self._copyValues(self._search(*self._collect(dataset)))
        chosen = registry().backend(self.getOrDefault(self.backend))
        backend = chosen.create(self.getOrDefault(self.backendOptions))
        try:
            if isinstance(backend, SparkSyncBackend):  # spark-sync and spark-async
                bundle = self._train_where_rows_are(dataset, backend)
            else:
                bundle = self._train_spec(*self._collect(dataset), backend)
        finally:
            backend.close()
        return self._copyValues(AutoMLModel(bundle))

    def _weight_name(self) -> str:
        return self.getOrDefault(self.weightCol) if self.isDefined(self.weightCol) else ""

    def _settings(self) -> TrainSettings:
        epochs = self.getOrDefault(self.epochs)
        return TrainSettings(max_epochs=epochs, seed=self.getOrDefault(self.seed))

    def _train_where_rows_are(self, dataset: DataFrame, backend: SparkSyncBackend) -> ModelBundle:
        """Train the fixed network on the executors' rows; bundle it with a preprocessor fitted
        from Spark aggregations."""
        vector = vector_to_array(F.col(self.getFeaturesCol()))
        width = dataset.select(F.size(vector).alias("width")).first()
        if width is None:
            raise ValueError("the DataFrame has no rows to train on")
        columns = [f"f{i}" for i in range(int(width["width"]))]
        weight = self._weight_name()
        table = dataset.select(
            *[vector[i].alias(c) for i, c in enumerate(columns)],
            F.col(self.getLabelCol()).alias(_TARGET),
            (F.col(weight) if weight else F.lit(1.0)).cast("double").alias(WEIGHT),
        )
        classes = distributed_classes(table, _TARGET)
        if weight:
            check_distributed_weights(table, _TARGET, WEIGHT, f"weightCol '{weight}'")
        schema = FeatureSchema(tuple(columns), ())
        preprocessor = fit_preprocessor(table, schema)
        codes = F.array_position(F.array(*[F.lit(c) for c in classes]), F.col(_TARGET)) - 1
        tagged = table.select(
            *columns,
            codes.cast("int").alias(LABEL),
            F.col(WEIGHT).cast("float").alias(WEIGHT),
            F.lit(TRAIN_FOLD).alias(FOLD),
        )
        rows = network_rows(tagged, schema, preprocessor, [LABEL, WEIGHT, FOLD])
        spec = ModelSpec.from_dict(self.getOrDefault(self.spec))
        epochs = self.getOrDefault(self.epochs)
        model = backend.fit_frame(
            spec, rows, len(classes), self._settings(), epochs, weighted=bool(weight)
        )
        member = Member(model, preprocessor)
        return ModelBundle([member], classes, schema, info={"spec": spec.to_dict()})

    def _collect(self, dataset: DataFrame) -> tuple[pd.DataFrame, np.ndarray | None]:
        """The features as columns ``f0..`` and the label as ``label``, on the driver, and the
        rows' weights (``None`` without ``weightCol``)."""
        weight = self._weight_name()
        columns = [
            vector_to_array(F.col(self.getFeaturesCol())).alias("x"),
            F.col(self.getLabelCol()).alias("y"),
        ]
        if weight:
            columns.append(F.col(weight).cast("double").alias("w"))
        table = dataset.select(*columns).toArrow()
        rows = table.num_rows
        x = table["x"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
        x = x.reshape(rows, -1) if rows else x.reshape(0, 0)
        frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
        frame[_TARGET] = table["y"].to_pylist()
        if not weight:
            return frame, None
        weights = np.asarray(table["w"].to_numpy(zero_copy_only=False), dtype=np.float64)
        labels = np.asarray(frame[_TARGET].to_numpy(), dtype=object)
        check_row_weights(weights, labels, f"weightCol '{weight}'")
        return frame, weights

    def _train_spec(
        self, frame: pd.DataFrame, weights: np.ndarray | None, backend: Backend
    ) -> ModelBundle:
        """Train the fixed network on every row (collected) and bundle it with its
        preprocessor."""
        dataset = load_dataset(DataConfig(target=_TARGET), frame)
        spec = ModelSpec.from_dict(self.getOrDefault(self.spec))
        preprocessor, (x,) = fit_transform(dataset.schema, dataset.features)
        epochs = self.getOrDefault(self.epochs)
        model = backend.fit(
            spec, x, dataset.target, len(dataset.classes), self._settings(), epochs, weights
        )
        member = Member(model, preprocessor)
        extra = {"spec": spec.to_dict()}
        return ModelBundle([member], dataset.classes, dataset.schema, info=extra)

    def _search(self, frame: pd.DataFrame, weights: np.ndarray | None) -> AutoMLModel:
        """Run the recipe's search on the collected rows; the best bundle and the leaderboard."""
        source = self.getOrDefault(self.recipe) if self.isDefined(self.recipe) else {}
        if isinstance(source, dict):
            source = {"name": "spark-ml", **source}
        rows_from_frame = {"data.target": _TARGET, "data.train": None, "data.id": None}
        recipe = load_recipe(source, {**rows_from_frame, "data.test": None, "data.drop": []})
        scratch = None
        if recipe.output is None:
            scratch = Path(tempfile.mkdtemp(prefix="automl-spark-ml-"))
            recipe = load_recipe(recipe, {"output": str(scratch)})
        backend = registry().backend(recipe.backend.name).create(recipe.backend.options)
        try:
            result = run_recipe(recipe, backend, table=frame, report=False, sample_weight=weights)
        finally:
            backend.close()
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        if result.best is None:
            reasons = result.leaderboard["reason"].dropna()
            first = reasons.iloc[0] if len(reasons) else "no trial ran"
            raise RuntimeError(f"no trial completed; the first failure: {first}")
        return AutoMLModel(result.best, leaderboard=result.leaderboard)
