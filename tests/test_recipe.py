"""The recipe: defaults, shorthand forms, overrides and paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.errors import UserError
from automl.recipe import Choices, FloatRange, IntRange, load_recipe, parse_duration

MINIMAL = {"name": "demo", "data": {"train": "t.csv", "target": "y"}}


def test_defaults_search_a_space_and_name_the_run_folder() -> None:
    recipe = load_recipe(MINIMAL)
    assert recipe.search.metric == "log_loss"
    assert recipe.search.sampler == "tpe"
    assert recipe.search.folds == 3
    assert recipe.data.holdout == 0.2
    assert isinstance(recipe.space.units, IntRange)
    assert recipe.run_dir == Path("runs/demo")


def test_dimension_forms_fixed_range_and_choices() -> None:
    recipe = load_recipe(
        {
            **MINIMAL,
            "space": {
                "layers": 2,
                "units": {"choices": [64, 128]},
                "activation": ["relu", "selu"],
                "dropout": {"low": 0.1, "high": 0.3},
                "learning_rate": 0.01,
            },
        }
    )
    space = recipe.space
    assert space.layers == 2
    assert space.units == Choices[int](choices=[64, 128])
    assert space.activation == Choices(choices=["relu", "selu"])
    assert space.dropout == FloatRange(low=0.1, high=0.3)
    assert space.learning_rate == 0.01


def test_yaml_file_paths_are_relative_to_the_recipe_and_name_defaults_to_stem(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "recipes"
    folder.mkdir()
    path = folder / "mine.yaml"
    path.write_text("data:\n  train: ../data/t.csv\n  target: y\nsearch:\n  timeout: 1h30m\n")
    recipe = load_recipe(path)
    assert recipe.name == "mine"
    assert recipe.data.train == (tmp_path / "data" / "t.csv").resolve()
    assert recipe.search.timeout == 5400


def test_overrides_are_validated_like_the_file() -> None:
    recipe = load_recipe(MINIMAL, {"search.trials": 7, "search.timeout": "2m", "output": "x"})
    assert (recipe.search.trials, recipe.search.timeout, recipe.run_dir) == (7, 120, Path("x"))
    with pytest.raises(UserError, match=r"search\.trials"):
        load_recipe(MINIMAL, {"search.trials": 0})


def test_a_recipe_object_round_trips_with_overrides() -> None:
    recipe = load_recipe(MINIMAL)
    again = load_recipe(recipe, {"search.seed": 3})
    assert again.search.seed == 3
    assert again.data.train == recipe.data.train


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("45", 45)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_the_lecture_models_are_expressible_as_fixed_recipes() -> None:
    for name in ("otto-lecture-small", "otto-lecture-dropout"):
        recipe = load_recipe(Path(__file__).parents[1] / "recipes" / f"{name}.yaml")
        assert recipe.space.hidden_units in ([200, 50], [512, 512, 512])
