"""A search over a distributed table (``data.distributed``): rows read, split, preprocessed,
trained and scored on the executors; what such a search refuses, in one line each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

import automl
from automl.cli import cli
from automl.errors import UserError
from automl.metrics import score_all
from automl.results import ModelBundle
from automl.training import TableSource

ROWS = 600


def _parquet(spark: Any, folder: Path) -> Path:
    """A table written by the executors: an id, two numeric features (one with missing values),
    a text feature and a three-class label that the features tell apart."""
    from pyspark.sql import functions as F

    label = (F.col("id") % 3).cast("int")
    noisy = F.randn(seed=1) * 0.4
    table = spark.range(ROWS, numPartitions=2).select(
        F.col("id"),
        (label + noisy).alias("a"),
        F.when(F.col("id") % 7 == 0, F.lit(None))
        .otherwise(-label + F.randn(seed=2) * 0.4)
        .alias("b"),
        F.when(label == 2, "high")
        .otherwise(F.when(F.rand(seed=3) < 0.5, "low").otherwise("mid"))
        .alias("kind"),
        F.concat(F.lit("class_"), label.cast("string")).alias("label"),
    )
    path = folder / "table.parquet"
    table.write.parquet(str(path))
    return path


def _recipe(path: Path, folder: Path, **changes: Any) -> dict[str, Any]:
    recipe: dict[str, Any] = {
        "name": "distributed",
        "data": {"train": str(path), "target": "label", "id": "id", "distributed": True},
        "search": {"trials": 2, "folds": 2, "pruner": "none", "metric": "balanced_accuracy"},
        "space": {"hidden_units": [8], "learning_rate": 0.05, "transform": "log1p"},
        "training": {"max_epochs": 2, "class_weight": "balanced"},
        "backend": {"name": "spark-sync", "options": {}},
        "output": str(folder / "run"),
    }
    for dotted, value in changes.items():
        section, field = dotted.split(".")
        recipe.setdefault(section, {})[field] = value
    return recipe


def test_a_search_over_parquet_trains_on_the_executors_and_scores_its_holdout_as_the_bundle_does(
    spark: Any, tmp_path: Path
) -> None:
    from pyspark.sql import functions as F

    from automl_spark.tables import fold_column

    path = _parquet(spark, tmp_path)
    result = automl.search(_recipe(path, tmp_path))

    board = result.leaderboard
    assert (board["state"] == "complete").sum() == 2, board
    run = json.loads((result.run_dir / "run.json").read_text())
    recorded = run["holdout"]
    assert set(recorded) == {"balanced_accuracy", "log_loss", "accuracy"}

    # The holdout, as the table's hash puts it, scored in this process by the saved bundle.
    source = TableSource(str(path), "label", "id", (), None, 0.2, 2, 0, "none")
    raw = spark.read.parquet(str(path))
    tagged = raw.select("*", fold_column(raw, source)).where(F.col("fold") == -1)
    holdout = tagged.drop("fold").toPandas().sort_values("id")
    bundle = ModelBundle.load(result.run_dir / "best")
    proba = bundle.predict_proba(holdout[["a", "b", "kind"]])
    codes = holdout["label"].map({label: code for code, label in enumerate(bundle.classes)})
    expected = score_all("balanced_accuracy", codes.to_numpy(), proba)
    assert 0.05 * ROWS < len(holdout) < 0.35 * ROWS
    for name, value in expected.items():
        assert recorded[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    assert recorded["accuracy"] > 0.8
    assert bundle.info["example"]["kind"] in {"low", "mid", "high"}
    assert bundle.classes == ("class_0", "class_1", "class_2")

    # automl validate opens the same table through the backend, and counts the same holdout
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(_recipe(path, tmp_path)))
    checked = CliRunner().invoke(cli, ["validate", str(tmp_path / "recipe.yaml")])
    assert checked.exit_code == 0, checked.output
    searched = ROWS - len(holdout)
    expected_line = f"valid. {ROWS} rows ({searched} for the search, {len(holdout)} held out)"
    assert expected_line in checked.output
    assert "3 features (2 numeric, 1 categorical), 3 classes" in checked.output


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"training.final_model": "ensemble"}, "training.final_model: ensemble needs every row"),
        ({"reference.enabled": True}, "reference.enabled: the references train in this process"),
        ({"catboost.enabled": True}, "catboost.enabled: the references train in this process"),
        ({"lightgbm.enabled": True}, "lightgbm.enabled: the references train in this process"),
        ({"search.parallel": 2}, "search.parallel: a distributed table's trials run one at a"),
        ({"data.test": "test.csv"}, "data.test: the predictions would be made in this process"),
        ({"search.metric": "roc_auc"}, "search.metric: roc_auc needs every row's probabilities"),
        ({"backend.name": "local"}, "backend.name: 'local' trains on rows in this process"),
    ],
)
def test_what_a_distributed_table_cannot_do_is_refused_in_one_line_before_spark_starts(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    recipe = _recipe(tmp_path / "table.parquet", tmp_path, **changes)
    with pytest.raises(UserError, match="^" + message) as raised:
        automl.search(recipe)
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "run").exists()


def test_a_table_spark_cannot_use_is_refused_in_one_line_naming_it(
    spark: Any, tmp_path: Path
) -> None:
    path = _parquet(spark, tmp_path)
    with pytest.raises(UserError, match=r"table.parquet: data.target: no column 'kind_of'"):
        automl.search(_recipe(path, tmp_path), overrides={"data.target": "kind_of"})
    missing = tmp_path / "absent.parquet"
    with pytest.raises(UserError, match=r"absent.parquet: cannot read as Parquet: "):
        automl.search(_recipe(missing, tmp_path))
    dated = tmp_path / "dated.parquet"
    frame = pd.DataFrame(
        {"when": pd.date_range("2026-01-01", periods=40), "label": np.arange(40) % 2}
    )
    spark.createDataFrame(frame).write.parquet(str(dated))
    with pytest.raises(UserError, match=r"column 'when' is of type timestamp; list it under"):
        automl.search(_recipe(dated, tmp_path), overrides={"data.id": None})
