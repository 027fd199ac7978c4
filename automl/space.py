"""The search space: recipe dimensions become Optuna suggestions and a backend-neutral ModelSpec."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import optuna

from automl.recipe import Choices, FloatRange, IntRange, SpaceConfig


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build and train one network: plain, JSON-serialisable data."""

    hidden_units: tuple[int, ...]
    activation: str = "relu"
    initializer: str = "glorot_uniform"
    batch_norm: bool = False
    dropout: float = 0.0
    input_dropout: float = 0.0
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    batch_size: int = 128
    transform: str = "none"
    lr_schedule: str = "constant"

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (lists, numbers, strings)."""
        data = asdict(self)
        data["hidden_units"] = list(self.hidden_units)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "hidden_units": tuple(data["hidden_units"])})

    def to_json(self) -> str:
        """The spec as a JSON string."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def describe(self) -> str:
        """One readable cell, e.g. ``log1p in0.2 200-50 relu he_normal bn drop0.1 adam lr3e-3``.

        The feature transform and the input dropout (``in0.2``) lead when there are any; the
        batch size (``bs512``) and the schedule end it.
        """
        words = [] if self.transform == "none" else [self.transform]
        if self.input_dropout > 0:
            words.append(f"in{self.input_dropout:.2g}")
        words += ["-".join(str(u) for u in self.hidden_units), self.activation, self.initializer]
        if self.batch_norm:
            words.append("bn")
        if self.dropout > 0:
            words.append(f"drop{self.dropout:.2g}")
        words += [
            self.optimizer,
            f"lr{self.learning_rate:.0e}".replace("e-0", "e-"),
            f"bs{self.batch_size}",
        ]
        if self.lr_schedule != "constant":
            words.append(self.lr_schedule)
        return " ".join(words)


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
