"""What a server's bundle does after ModelBundle.trace(): the same probabilities, computed faster
(compiled preprocessors, traced networks, forests on the calling thread)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import ExtraTreesClassifier

from automl.data import FeatureSchema, compiled_transform, fit_transform
from automl.keras import LocalBackend
from automl.results import Member, ModelBundle
from automl.spec import ModelSpec
from automl.training import TrainSettings

SCHEMA = FeatureSchema(("x1", "x2", "colour", "size"), ("colour", "size"))


def _table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        {
            "x1": rng.normal(size=rows) * 10,
            "x2": rng.exponential(size=rows) - 0.5,
            "colour": rng.choice(["red", "green", "blue", None], rows).astype(object),
            "size": rng.choice(["S", "M", None], rows).astype(object),
        }
    )
    table.loc[rng.random(rows) < 0.2, "x1"] = np.nan
    for column in SCHEMA.categorical:  # missing as None, as automl reads a file
        table[column] = table[column].astype(object).where(table[column].notna(), None)
    return table


@pytest.mark.parametrize("transform", ["none", "log1p", "sqrt"])
def test_a_compiled_preprocessor_gives_scikit_learns_matrix(transform: str) -> None:
    preprocessor, _ = fit_transform(SCHEMA, _table(200, 0), transform=transform)
    compiled = compiled_transform(preprocessor)
    assert compiled is not None
    unseen = _table(50, 1)
    unseen.loc[0, "colour"] = "purple"  # a category the fit never saw: all zeros
    unseen.loc[1, ["x1", "x2"]] = np.nan
    unseen.loc[2, "size"] = np.nan  # imputed, unlike None: a category of its own, as fitted
    assert unseen["size"].map(lambda v: v is None).any()
    expected = preprocessor.transform(unseen)
    assert compiled(unseen).dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(compiled(unseen), expected)


def test_what_it_cannot_mirror_is_left_to_scikit_learn() -> None:
    quantile, _ = fit_transform(SCHEMA, _table(200, 0), transform="quantile")
    assert compiled_transform(quantile) is None
    empty = _table(200, 0).assign(x1=np.nan)  # scikit-learn drops a column empty at fit time
    dropped, _ = fit_transform(SCHEMA, empty)
    assert compiled_transform(dropped) is None


def test_a_traced_bundle_predicts_what_it_did_before() -> None:
    table = _table(120, 2)
    target = (table["x2"] > 0).to_numpy(dtype=int) + (table["colour"] == "red").to_numpy(int)
    plain, (x,) = fit_transform(SCHEMA, table, transform="log1p")
    network = LocalBackend().fit(ModelSpec(hidden_units=(4,)), x, target, 3, TrainSettings(1), 1)
    forest = ExtraTreesClassifier(n_estimators=5, n_jobs=-1, random_state=0).fit(x, target)
    members = [Member(network, plain, 0.5), Member(forest, plain, 0.5)]
    bundle = ModelBundle(members, ("a", "b", "c"), SCHEMA, info={"example": {"x1": 1.0}})
    before = bundle.predict_proba(_table(30, 3))
    bundle.trace()
    assert bundle._compiled and forest.n_jobs == 1
    np.testing.assert_allclose(bundle.predict_proba(_table(30, 3)), before, atol=1e-6)
