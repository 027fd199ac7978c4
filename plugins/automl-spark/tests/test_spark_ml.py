"""The pyspark.ml Estimator/Model in a real Pipeline: rows kept and aligned, save and load."""

from __future__ import annotations

import os
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


@pytest.mark.parametrize("backend", ["local", "spark-sync"])
def test_weight_col_is_checked_where_the_rows_are_too(frame: Any, backend: str) -> None:
    """spark-sync trains on the executors' rows, so its checks are Spark aggregations; they
    refuse the same weights with the same lines as the collected rows' checks."""
    estimator = AutoMLEstimator(spec=SPEC, epochs=1, weightCol="w", backend=backend)
    zero_kind = F.when(F.col("kind") == "kind_1", 0.0).otherwise(1.0)
    cases = [
        (F.lit(float("nan")), r"^weightCol 'w': every weight must be a finite number >= 0"),
        (zero_kind, r"^weightCol 'w': every row of class \d\.0 weighs zero"),
        (F.lit(0.0), r"^weightCol 'w': the weights are all zero"),
    ]
    for weight, message in cases:
        with pytest.raises(ValueError, match=message):
            _pipeline(estimator).fit(frame.withColumn("w", weight))


def test_spark_sync_trains_where_the_rows_are_and_predicts_like_the_collected_fit(
    frame: Any,
) -> None:
    """The same network on the same rows, fitted on the executors (statistics from Spark) or
    on the driver (scikit-learn): the preprocessors agree and both models learn the classes."""
    fitted = {
        backend: _pipeline(AutoMLEstimator(spec=SPEC, epochs=8, backend=backend)).fit(frame)
        for backend in ("local", "spark-sync")
    }
    bundles = {name: f.stages[-1].bundle for name, f in fitted.items()}
    rows = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 2)), columns=["f0", "f1"])
    np.testing.assert_allclose(
        bundles["spark-sync"].members[0].preprocessor.transform(rows),
        bundles["local"].members[0].preprocessor.transform(rows),
        rtol=1e-5,
        atol=1e-5,
    )
    for model in fitted.values():
        out = model.transform(frame).select("prediction", "label").collect()
        assert np.mean([r["prediction"] == r["label"] for r in out]) > 0.8


@pytest.mark.parametrize("transform", ["none", "log1p", "quantile"])
def test_the_preprocessor_from_spark_aggregations_matches_scikit_learns(
    spark: Any, transform: str
) -> None:
    """Medians and quantiles are approximate (approxQuantile): each lies within a rank of
    ``MEDIAN_RELATIVE_ERROR`` x rows (plus one row) of the exact one's. Given them, the means and
    scales are exact (to floating-point order), a constant column scales by 1, and the
    categories are scikit-learn's."""
    from automl.data import FeatureSchema, Source, build_preprocessor, prepare_features
    from automl_spark.preprocess import MEDIAN_RELATIVE_ERROR, fit_preprocessor

    generator = np.random.default_rng(1)
    rows = 20001
    values = generator.lognormal(size=(rows, 3))
    values[generator.random(values.shape) < 0.1] = np.nan  # missing values to impute
    values[:, 2] = 7.0  # a constant column: scaled by 1, as scikit-learn does
    table = pd.DataFrame(values, columns=["a", "b", "c"])
    table["kind"] = generator.choice(np.array(["x", "y", "z", None], dtype=object), rows)
    schema = FeatureSchema(("a", "b", "c", "kind"), ("kind",))
    features, _ = prepare_features(table, Source("test"), {"kind"})
    ours = fit_preprocessor(spark.createDataFrame(features), schema, transform)
    reference = build_preprocessor(schema, transform, rows).fit(features)

    def part(preprocessor: Any, name: str) -> Any:
        return preprocessor.named_steps["columns"].named_transformers_[name]

    numeric = part(ours, "numeric")
    slack = MEDIAN_RELATIVE_ERROR + 1 / rows
    medians = numeric.named_steps["impute"].statistics_
    for column, median in zip(["a", "b", "c"], medians, strict=True):
        present = table[column].dropna().to_numpy()
        assert np.mean(present < median) <= 0.5 + slack  # not above the middle rank
        assert np.mean(present <= median) >= 0.5 - slack  # nor below it
    filled = table[["a", "b", "c"]].fillna(dict(zip("abc", medians, strict=True)))
    if transform == "quantile":
        found = numeric.named_steps["quantile"]
        for index, column in enumerate(filled.to_numpy().T):
            for rank, value in zip(
                found.references_[1:-1], found.quantiles_[1:-1, index], strict=True
            ):
                assert np.mean(column < value) <= rank + slack
                assert np.mean(column <= value) >= rank - slack
    shaped = numeric[:-1].transform(table[["a", "b", "c"]])
    scaler = numeric.named_steps["scale"]
    np.testing.assert_allclose(scaler.mean_, shaped.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(scaler.var_, shaped.var(axis=0), rtol=1e-7, atol=1e-12)
    assert scaler.scale_[2] == 1.0
    onehot = part(ours, "categorical").named_steps["onehot"].categories_
    expected = part(reference, "categorical").named_steps["onehot"].categories_
    assert [list(c) for c in onehot] == [list(c) for c in expected]
    assert ours.transform(features).shape == reference.transform(features).shape


def test_a_model_saves_through_spark_writers_to_any_path_and_reads_the_old_layout(
    frame: Any, tmp_path: Path
) -> None:
    """A file:// URI and a relative path (Spark resolves it from its working folder, this
    process's) both hold metadata/ and bundle.parquet; a folder saved in the earlier layout (a
    local bundle/ folder) still loads."""
    from pyspark.ml.util import DefaultParamsWriter

    model = _pipeline(AutoMLEstimator(spec=SPEC, epochs=2)).fit(frame).stages[-1]
    features = _pipeline(AutoMLEstimator(spec=SPEC, epochs=1)).getStages()[:-1]
    ready = Pipeline(stages=features).fit(frame).transform(frame)
    expected = model.transform(ready).select("probability").collect()
    relative = os.path.relpath(tmp_path / "by-relative-path")
    for path, folder in [
        (f"file://{tmp_path}/by-uri", tmp_path / "by-uri"),
        (relative, tmp_path / "by-relative-path"),
    ]:
        model.write().save(path)
        model.write().overwrite().save(path)  # overwriting replaces, through the same writers
        assert (folder / "bundle.parquet").is_dir() and (folder / "metadata").is_dir()
        again = AutoMLModel.load(path).transform(ready).select("probability").collect()
        for before, after in zip(expected, again, strict=True):
            np.testing.assert_allclose(after["probability"], before["probability"], rtol=1e-6)
    old = tmp_path / "old-layout"
    DefaultParamsWriter.saveMetadata(model, str(old), frame.sparkSession)
    model.bundle.save(old / "bundle")
    assert AutoMLModel.load(str(old)).classes == model.classes
