"""The pyspark.ml Estimator/Model in a real Pipeline: rows kept and aligned, save and load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import StandardScaler, StringIndexer, VectorAssembler
from pyspark.sql import functions as F

from automl.testing import tiny_table
from automl_spark.ml import AutoMLEstimator, AutoMLModel

SPEC = {"hidden_units": [8], "learning_rate": 0.05, "batch_size": 16}


@pytest.fixture(scope="module")
def frame(spark: Any) -> Any:
    """The tiny table with string classes, as a Spark DataFrame."""
    table = tiny_table(rows=120)
    rows = [
        (int(i), float(a), float(b), f"kind_{label}")
        for i, a, b, label in table[["id", "a", "b", "label"]].itertuples(index=False)
    ]
    return spark.createDataFrame(rows, ["id", "a", "b", "kind"])


def _pipeline(estimator: AutoMLEstimator) -> Pipeline:
    return Pipeline(
        stages=[
            StringIndexer(inputCol="kind", outputCol="label"),
            VectorAssembler(inputCols=["a", "b"], outputCol="raw"),
            StandardScaler(inputCol="raw", outputCol="features"),
            estimator,
        ]
    )


def _by_id(rows: list[Any]) -> dict[int, tuple[np.ndarray, float, float]]:
    return {r["id"]: (r["probability"].toArray(), r["prediction"], r["label"]) for r in rows}


def test_a_pipeline_predicts_every_row_once_aligned_with_its_id_and_saves(
    frame: Any, tmp_path: Path
) -> None:
    fitted = _pipeline(AutoMLEstimator(spec=SPEC, epochs=8)).fit(frame)
    model = fitted.stages[-1]
    assert isinstance(model, AutoMLModel) and model.classes == (0.0, 1.0, 2.0)

    shuffled = frame.orderBy(F.rand(seed=7)).repartition(3)
    rows = fitted.transform(shuffled).select("id", "features", "label", "probability", "prediction")
    collected = rows.collect()
    assert sorted(r["id"] for r in collected) == list(range(120))  # one row out per row in

    # each row's probabilities are the bundle's for that row's own features, computed here
    features = np.array([r["features"].toArray() for r in collected])
    expected = model.bundle.predict_proba(pd.DataFrame(features, columns=["f0", "f1"]))
    got = np.array([r["probability"].toArray() for r in collected])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    predictions = np.array([r["prediction"] for r in collected])
    np.testing.assert_array_equal(predictions, expected.argmax(axis=1).astype(float))
    assert np.mean(predictions == np.array([r["label"] for r in collected])) > 0.8

    fitted.write().save(str(tmp_path / "pipeline"))
    assert (tmp_path / "pipeline" / "stages").is_dir()
    loaded = PipelineModel.load(str(tmp_path / "pipeline"))
    again = _by_id(loaded.transform(shuffled).collect())
    before = _by_id(collected)
    assert again.keys() == before.keys()
    for key, (proba, prediction, _) in before.items():
        np.testing.assert_allclose(again[key][0], proba, rtol=1e-6)
        assert again[key][1] == prediction


def test_the_estimator_runs_a_search_with_spark_sync_in_the_frames_session(frame: Any) -> None:
    recipe = {
        "search": {"trials": 1, "folds": 2, "pruner": "none"},
        "space": SPEC,
        "training": {"max_epochs": 2},
        "backend": {"name": "spark-sync"},
    }
    fitted = _pipeline(AutoMLEstimator(recipe=recipe)).fit(frame)
    model = fitted.stages[-1]
    assert list(model.leaderboard["state"]) == ["complete"]
    out = fitted.transform(frame).select("probability", "prediction").collect()
    assert len(out) == 120 and all(abs(sum(r["probability"]) - 1) < 1e-6 for r in out)


def test_an_unfitted_pipeline_keeps_the_estimators_recipe_through_save_and_load(
    spark: Any, tmp_path: Path
) -> None:
    recipe = {"search": {"trials": 3}, "space": SPEC}
    _pipeline(AutoMLEstimator(recipe=recipe, labelCol="label")).write().save(str(tmp_path / "p"))
    loaded = Pipeline.load(str(tmp_path / "p")).getStages()[-1]
    assert isinstance(loaded, AutoMLEstimator)
    assert loaded.getOrDefault(loaded.recipe) == recipe
    assert not loaded.isDefined(loaded.spec) and loaded.getOrDefault(loaded.epochs) == 10


def test_weight_col_weighs_each_rows_training_loss(frame: Any) -> None:
    heavy_kind = F.when(F.col("kind") == "kind_0", 50.0).otherwise(1.0)
    weighted = frame.withColumn("w", heavy_kind)

    def predicted_as_heavy(estimator: AutoMLEstimator) -> int:
        fitted = _pipeline(estimator).fit(weighted)
        heavy = fitted.stages[0].labels.index("kind_0")  # the StringIndexer's code of kind_0
        return fitted.transform(weighted).filter(F.col("prediction") == heavy).count()

    plain = predicted_as_heavy(AutoMLEstimator(spec=SPEC, epochs=4))
    assert predicted_as_heavy(AutoMLEstimator(spec=SPEC, epochs=4, weightCol="w")) > plain
    negative = weighted.withColumn("w", F.lit(-1.0))
    with pytest.raises(ValueError, match=r"^weightCol 'w': every weight must be a finite number"):
        _pipeline(AutoMLEstimator(spec=SPEC, epochs=1, weightCol="w")).fit(negative)
