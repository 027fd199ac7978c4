"""The search space: recipe dimensions become Optuna suggestions and a backend-neutral ModelSpec."""

from __future__ import annotations

from typing import Any

import optuna

from automl.recipe import Choices, FloatRange, IntRange, SpaceConfig
from automl.spec import ModelSpec


def suggest_spec(space: SpaceConfig, trial: optuna.trial.BaseTrial) -> ModelSpec:
    """Draw a :class:`ModelSpec` from ``space``; fixed dimensions are not Optuna parameters.

    Works with any trial, including ``optuna.trial.FixedTrial`` for testing a space.
    """
    if space.hidden_units is not None:
        hidden = tuple(space.hidden_units)
    else:
        layers = _suggest(trial, "layers", space.layers)
        hidden = tuple(_suggest(trial, f"units_{i + 1}", space.units) for i in range(layers))
    return ModelSpec(
        hidden_units=hidden,
        activation=_suggest(trial, "activation", space.activation),
        initializer=_suggest(trial, "initializer", space.initializer),
        batch_norm=_suggest(trial, "batch_norm", space.batch_norm),
        dropout=_suggest(trial, "dropout", space.dropout),
        input_dropout=_suggest(trial, "input_dropout", space.input_dropout),
        optimizer=_suggest(trial, "optimizer", space.optimizer),
        learning_rate=_suggest(trial, "learning_rate", space.learning_rate),
        batch_size=_suggest(trial, "batch_size", space.batch_size),
        transform=_suggest(trial, "transform", space.transform),
        lr_schedule=_suggest(trial, "lr_schedule", space.lr_schedule),
    )


def _suggest(trial: optuna.trial.BaseTrial, name: str, dimension: Any) -> Any:
    if isinstance(dimension, Choices):
        return trial.suggest_categorical(name, dimension.choices)
    if isinstance(dimension, IntRange):
        return trial.suggest_int(
            name, dimension.low, dimension.high, log=dimension.log, step=dimension.step
        )
    if isinstance(dimension, FloatRange):
        return trial.suggest_float(name, dimension.low, dimension.high, log=dimension.log)
    return dimension
