"""The search space is testable without a study: optuna.trial.FixedTrial."""

from __future__ import annotations

import optuna

from automl.recipe import load_recipe
from automl.spec import ModelSpec
from automl.tuning import suggest_spec

BASE = {"name": "demo", "data": {"train": "t.csv", "target": "y"}}


def test_searched_dimensions_become_parameters_and_fixed_ones_do_not() -> None:
    space = load_recipe({**BASE, "space": {"optimizer": "sgd", "batch_size": 64}}).space
    params = {
        "layers": 2,
        "units_1": 200,
        "units_2": 50,
        "activation": "relu",
        "initializer": "he_normal",
        "batch_norm": True,
        "dropout": 0.1,
        "learning_rate": 3e-3,
        "transform": "log1p",  # searched by default: none, log1p, quantile
    }
    spec = suggest_spec(space, optuna.trial.FixedTrial(params))
    assert spec == ModelSpec(
        hidden_units=(200, 50),
        activation="relu",
        initializer="he_normal",
        batch_norm=True,
        dropout=0.1,
        optimizer="sgd",
        learning_rate=3e-3,
        batch_size=64,
        transform="log1p",
    )
    assert spec.describe() == "log1p 200-50 relu he_normal bn drop0.1 sgd lr3e-3 bs64"


def test_input_dropout_is_searched_when_the_recipe_gives_a_range() -> None:
    default = load_recipe(BASE).space
    assert default.input_dropout == 0.0
    space = load_recipe({**BASE, "space": {"input_dropout": {"low": 0.0, "high": 0.3}}}).space
    params = {
        "layers": 1,
        "units_1": 64,
        "activation": "relu",
        "initializer": "he_normal",
        "batch_norm": False,
        "dropout": 0.0,
        "input_dropout": 0.2,
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "batch_size": 128,
        "transform": "none",
    }
    spec = suggest_spec(space, optuna.trial.FixedTrial(params))
    assert spec.input_dropout == 0.2
    assert spec.describe() == "in0.2 64 relu he_normal adam lr1e-3 bs128"


def test_a_fixed_architecture_needs_no_parameters() -> None:
    recipe = load_recipe(
        {
            **BASE,
            "space": {
                "hidden_units": [512, 512, 512],
                "activation": "relu",
                "initializer": "glorot_uniform",
                "batch_norm": False,
                "dropout": 0.5,
                "optimizer": "adam",
                "learning_rate": 1e-3,
                "batch_size": 128,
                "transform": "none",
            },
        }
    )
    spec = suggest_spec(recipe.space, optuna.trial.FixedTrial({}))
    assert spec.hidden_units == (512, 512, 512)
    assert spec.describe() == "512-512-512 relu glorot_uniform drop0.5 adam lr1e-3 bs128"


def test_spec_round_trips_through_plain_data() -> None:
    spec = ModelSpec(hidden_units=(8, 4), dropout=0.25)
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert '"hidden_units": [8, 4]' in spec.to_json()


def test_a_study_draws_every_dimension_from_the_recipe() -> None:
    space = load_recipe(BASE).space
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    specs = []
    for _ in range(5):
        trial = study.ask()
        specs.append(suggest_spec(space, trial))
        study.tell(trial, 0.0)
    for spec in specs:
        assert 1 <= len(spec.hidden_units) <= 3
        assert all(32 <= u <= 512 for u in spec.hidden_units)
        assert 1e-4 <= spec.learning_rate <= 1e-2
        assert spec.batch_size in (64, 128, 256, 512)
