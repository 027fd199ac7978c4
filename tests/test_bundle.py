"""The model bundle: save, load in Keras safe mode, predict without a recipe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from automl.data import FeatureSchema, fit_transform
from automl.errors import UserError
from automl.keras import LocalBackend
from automl.results import Member, ModelBundle
from automl.spec import ModelSpec
from automl.training import TrainSettings


@pytest.fixture
def bundle() -> ModelBundle:
    from sample_tables import make_table

    table = make_table()
    schema = FeatureSchema(("x1", "x2", "colour"), ("colour",))
    preprocessor, (x,) = fit_transform(schema, table[list(schema.columns)])
    y = table["label"].map({"Class_1": 0, "Class_2": 1, "Class_10": 2}).to_numpy()
    model = LocalBackend().fit(ModelSpec(hidden_units=(4,)), x, y, 3, TrainSettings(1), 1)
    return ModelBundle(
        [Member(model, preprocessor)],
        ("Class_1", "Class_2", "Class_10"),
        schema,
        "id",
        {"trial": 0},
    )


def test_a_saved_bundle_predicts_the_same_after_loading(bundle, tmp_path: Path) -> None:
    from sample_tables import make_table

    rows = make_table(rows=9, seed=3)
    bundle.save(tmp_path / "best")
    loaded = ModelBundle.load(tmp_path / "best")
    np.testing.assert_allclose(loaded.predict_proba(rows), bundle.predict_proba(rows), atol=1e-7)
    assert loaded.classes == bundle.classes and loaded.info == {"trial": 0}
    assert set(loaded.predict(rows)) <= set(bundle.classes)
    assert sorted(p.name for p in (tmp_path / "best").iterdir()) == [
        "bundle.json",
        "model.keras",
        "preprocessor_1.skops",
    ]


def test_saving_over_a_bundle_replaces_it_whole(bundle, tmp_path: Path) -> None:
    bundle.save(tmp_path / "best")
    bundle.info["trial"] = 5
    bundle.save(tmp_path / "best")
    assert json.loads((tmp_path / "best" / "bundle.json").read_text())["trial"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]


def test_a_folder_without_a_manifest_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a model bundle"):
        ModelBundle.load(tmp_path)
