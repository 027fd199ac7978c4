"""Search-space dimensions: a fixed value, a range or a list of choices, and their bounds."""

from __future__ import annotations

import functools
import operator
import re
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from automl._text import did_you_mean

ACTIVATIONS = ("relu", "elu", "selu", "gelu", "swish", "tanh", "leaky_relu", "mish", "softplus")
INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "uniform",
    "normal",
    "truncated_normal",
    "orthogonal",
)
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "nadam", "adamax")
TRANSFORMS = ("none", "log1p", "sqrt", "quantile")
SCHEDULES = ("constant", "plateau")
METRICS = (
    "log_loss",
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "roc_auc",
    "average_precision",
)

Activation = Literal[ACTIVATIONS]  # type: ignore[valid-type]
Initializer = Literal[INITIALIZERS]  # type: ignore[valid-type]
Optimizer = Literal[OPTIMIZERS]  # type: ignore[valid-type]
Metric = Literal[METRICS]  # type: ignore[valid-type]
Transform = Literal[TRANSFORMS]  # type: ignore[valid-type]
Schedule = Literal[SCHEDULES]  # type: ignore[valid-type]
T = TypeVar("T")


class Section(BaseModel):
    """A recipe section: unknown keys are refused with a did-you-mean and the allowed keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            allowed = list(cls.model_fields)
            for key in value:
                if key not in allowed:
                    raise ValueError(
                        f"unknown field '{key}'{did_you_mean(str(key), allowed)}; "
                        f"allowed: {', '.join(allowed)}"
                    )
                if isinstance(value[key], bool) and _numeric_only(cls.model_fields[key]):
                    word = str(value[key]).lower()  # YAML reads yes/no/on/off as booleans too
                    raise ValueError(f"{key}: expected a number, got {word}")
        return value


def _numeric_only(field: Any) -> bool:
    """Whether a field takes numbers but no booleans (pydantic would read ``true`` as 1); a field
    that also takes words (a ``Literal``) checks its values itself."""
    annotation = repr(field.annotation)
    if "bool" in annotation or "Literal" in annotation:
        return False
    return re.search(r"\b(int|float)\b", annotation) is not None


class Choices(Section, Generic[T]):
    """A categorical dimension: one of ``choices``. A plain YAML list means the same."""

    choices: list[T] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        return {"choices": value} if isinstance(value, list) else value


class IntRange(Section):
    """An integer dimension from ``low`` to ``high`` inclusive."""

    low: int
    high: int
    log: bool = False
    step: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _not_empty(self) -> IntRange:
        _check_bounds(self.low, self.high, self.log)
        return self


class FloatRange(Section):
    """A real dimension from ``low`` to ``high``, optionally on a log scale."""

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _not_empty(self) -> FloatRange:
        _check_bounds(self.low, self.high, self.log)
        return self


def _check_bounds(low: float, high: float, log: bool) -> None:
    if low > high:
        raise ValueError(f"empty range: low ({low}) is above high ({high})")
    if log and low <= 0:
        raise ValueError(f"a log range needs low > 0, got {low}")


def _span(value: Any) -> tuple[float, float]:
    """The smallest and the largest value a numeric dimension can take."""
    if isinstance(value, (IntRange, FloatRange)):
        return value.low, value.high
    if isinstance(value, Choices):
        return min(value.choices), max(value.choices)
    return value, value


def _check_span(
    value: Any,
    *,
    low: float | None = None,
    above: float | None = None,
    below: float | None = None,
) -> None:
    """Refuse a dimension that can go under ``low``, down to ``above`` or up to ``below``."""
    smallest, largest = _span(value)
    if low is not None and smallest < low:
        raise ValueError(f"values must be at least {low}, got {smallest}")
    if above is not None and smallest <= above:
        raise ValueError(f"values must be above {above}, got {smallest}")
    if below is not None and largest >= below:
        raise ValueError(f"values must be below {below}, got {largest}")


def _dimension_kind(value: Any) -> str:
    if isinstance(value, list) or (isinstance(value, dict) and "choices" in value):
        return "choices"
    if isinstance(value, (dict, IntRange, FloatRange)):
        return "range"
    return "choices" if isinstance(value, Choices) else "fixed"


def dimension(fixed: Any, ranged: Any = None) -> Any:
    """A dimension type: a fixed value, a range (when ``ranged`` is given) or a list of choices."""
    members = [Annotated[fixed, Tag("fixed")], Annotated[Choices[fixed], Tag("choices")]]
    if ranged is not None:
        members.append(Annotated[ranged, Tag("range")])
    return Annotated[functools.reduce(operator.or_, members), Discriminator(_dimension_kind)]


IntDim = dimension(int, IntRange)
FloatDim = dimension(float, FloatRange)
ActivationDim = dimension(Activation)
InitializerDim = dimension(Initializer)
BoolDim = dimension(bool)
OptimizerDim = dimension(Optimizer)
TransformDim = dimension(Transform)
ScheduleDim = dimension(Schedule)
