"""Search levers: a warm start runs given parameters first; the plateau schedule lowers the rate."""

from __future__ import annotations

import numpy as np
import pytest

from automl import search
from automl.errors import UserError
from automl.keras import LocalBackend
from automl.recipe import load_recipe
from automl.spec import ModelSpec
from automl.training import FoldData, TrainSettings


def test_a_new_study_runs_the_warm_start_first_in_order(recipe_dict: dict) -> None:
    first = {"layers": 2, "units_1": 16, "units_2": 4, "activation": "tanh", "transform": "log1p"}
    second = {"layers": 1, "units_1": 5, "activation": "relu", "transform": "quantile"}
    recipe_dict["space"] |= {"transform": ["none", "log1p", "quantile"]}
    recipe_dict["space"]["warm_start"] = [first, second]
    result = search(recipe_dict, trials=3)
    trials = result.study.trials
    assert {k: trials[0].params[k] for k in first} == first
    assert {k: trials[1].params[k] for k in second} == second
    assert trials[0].user_attrs["spec"]["hidden_units"] == [16, 4]
    again = search(recipe_dict, trials=1)  # a continued study does not start over
    assert len(again.study.trials) == 4 and again.study.trials[3].params != first


def test_a_warm_start_names_only_parameters_of_the_space() -> None:
    recipe = {"name": "w", "data": {"train": "t.csv", "target": "y"}}
    with pytest.raises(UserError, match=r"space\.warm_start: unknown parameter 'unit_1'"):
        load_recipe({**recipe, "space": {"warm_start": [{"layers": 1, "unit_1": 8}]}})


def test_the_plateau_schedule_lowers_the_learning_rate_when_validation_stalls() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = rng.integers(0, 2, size=64)
    data = FoldData(x[:48], y[:48], x[48:], y[48:], 2)
    # min_delta 10: no epoch counts as an improvement, so the rate drops after one epoch
    settings = TrainSettings(max_epochs=4, patience=3, min_delta=10.0, seed=0)
    spec = ModelSpec(hidden_units=(4,), learning_rate=0.01, batch_size=16, lr_schedule="plateau")
    rates = LocalBackend().evaluate(spec, data, settings).history["learning_rate"]
    assert rates[0] == pytest.approx(0.01) and rates[-1] < rates[0]
    constant = LocalBackend().evaluate(
        ModelSpec(hidden_units=(4,), learning_rate=0.01, batch_size=16), data, settings
    )
    assert (
        "learning_rate" not in constant.history or len(set(constant.history["learning_rate"])) == 1
    )
    assert spec.describe().endswith("plateau")
