"""The recipe: what to search, on which data, with which budget, validated before anything runs.

A recipe is YAML (safe-loaded; a key given twice is an error), a dict, or a :class:`Recipe`. Every
mistake is reported as one :class:`~automl.errors.UserError` line naming the field and what is
allowed.
"""

from __future__ import annotations

import functools
import operator
import re
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from automl._text import did_you_mean
from automl.errors import UserError

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
METRICS = ("log_loss", "accuracy", "balanced_accuracy", "f1_macro", "roc_auc")

Activation = Literal[ACTIVATIONS]  # type: ignore[valid-type]
Initializer = Literal[INITIALIZERS]  # type: ignore[valid-type]
Optimizer = Literal[OPTIMIZERS]  # type: ignore[valid-type]
Metric = Literal[METRICS]  # type: ignore[valid-type]
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
        return value


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


# Where each numeric dimension's values must lie (inclusive low, exclusive below/above).
_SPANS: dict[str, dict[str, float]] = {
    "layers": {"low": 0},
    "units": {"low": 1},
    "batch_size": {"low": 1},
    "dropout": {"low": 0.0, "below": 1.0},
    "learning_rate": {"above": 0.0},
}


class SpaceConfig(Section):
    """The network search space; each dimension is a fixed value, a range or a list of choices."""

    layers: IntDim = IntRange(low=1, high=3)
    units: IntDim = IntRange(low=32, high=512, log=True)
    hidden_units: list[int] | None = Field(None, min_length=1)
    activation: dimension(Activation) = Choices[Activation](
        choices=["relu", "elu", "gelu", "swish"]
    )
    initializer: dimension(Initializer) = Choices[Initializer](
        choices=["glorot_uniform", "he_normal", "lecun_normal"]
    )
    batch_norm: dimension(bool) = Choices[bool](choices=[False, True])
    dropout: FloatDim = FloatRange(low=0.0, high=0.5)
    optimizer: dimension(Optimizer) = Choices[Optimizer](choices=["adam", "adamw", "nadam"])
    learning_rate: FloatDim = FloatRange(low=1e-4, high=1e-2, log=True)
    batch_size: IntDim = Choices[int](choices=[64, 128, 256, 512])

    @field_validator(*_SPANS)
    @classmethod
    def _within_span(cls, value: Any, info: ValidationInfo) -> Any:
        _check_span(value, **_SPANS[info.field_name])
        return value

    @field_validator("hidden_units")
    @classmethod
    def _positive_units(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and min(value) < 1:
            raise ValueError("every layer needs at least 1 unit")
        return value

    @model_validator(mode="before")
    @classmethod
    def _one_way_to_shape(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("hidden_units") is not None:
            both = [key for key in ("layers", "units") if key in value]
            if both:
                raise ValueError(f"give either hidden_units or {' and '.join(both)}, not both")
        return value


class EarlyStoppingConfig(Section):
    """Keras EarlyStopping settings."""

    monitor: Literal["val_loss", "val_accuracy"] = "val_loss"
    patience: int = Field(5, ge=0)
    min_delta: float = Field(0.0, ge=0)
    restore_best_weights: bool = True


class TrainingConfig(Section):
    """How each network is trained and how the final model is made."""

    max_epochs: int = Field(50, ge=1)
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    final_model: Literal["refit", "fold_ensemble"] = "refit"


class DataConfig(Section):
    """Where the rows come from and which column is the target."""

    train: Path | None = None
    target: str
    id: str | None = None
    test: Path | None = None
    drop: list[str] = []
    categorical: Literal["auto"] | list[str] = "auto"
    holdout: float = Field(0.2, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _id_is_not_target(self) -> DataConfig:
        if self.id is not None and self.id == self.target:
            raise ValueError(f"id and target both name column '{self.target}'; give two columns")
        return self


class SearchConfig(Section):
    """The Optuna study: budget, scoring, sampler, pruner and storage."""

    trials: int | None = Field(20, ge=1)
    timeout: int | None = Field(None, ge=1, description="seconds; YAML may say '30m' or '2h'")
    folds: int = Field(3, ge=2)
    metric: Metric = "log_loss"
    sampler: Literal["tpe", "random", "cmaes", "gp", "qmc"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    seed: int = 0
    storage: str | None = None
    max_failures: int | None = Field(10, ge=1, description="stop after this many failures in a row")

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("storage")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        return None if value is None else check_storage_url(value)

    @model_validator(mode="after")
    def _has_budget(self) -> SearchConfig:
        if self.trials is None and self.timeout is None:
            raise ValueError("give trials, timeout or both, so the search ends")
        return self


class BackendConfig(Section):
    """Which installed backend evaluates trials, and its options."""

    name: str = "local"
    options: dict[str, Any] = {}


class Recipe(Section):
    """A whole recipe. Build one with :func:`load_recipe`."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    data: DataConfig
    space: SpaceConfig = SpaceConfig()
    training: TrainingConfig = TrainingConfig()
    search: SearchConfig = SearchConfig()
    backend: BackendConfig = BackendConfig()
    output: Path | None = None

    @property
    def run_dir(self) -> Path:
        """The run folder: ``output`` or ``runs/<name>``."""
        return self.output if self.output is not None else Path("runs") / self.name


def check_storage_url(url: str) -> str:
    """Refuse a storage that is not a database URL SQLAlchemy knows, before any folder is made."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    allowed = "write an Optuna RDB URL such as sqlite:///study.db or postgresql://user@host/db"
    try:
        make_url(url).get_dialect()
    except NoSuchModuleError:  # before ArgumentError, its base class
        scheme = url.split(":", 1)[0]
        raise ValueError(f"unknown database '{scheme}'; {allowed}") from None
    except ArgumentError:
        raise ValueError(f"'{url}' is not a database URL; {allowed}") from None
    return url


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Parse ``"90s"``, ``"30m"``, ``"1h30m"``, ``"2h"`` or ``"600"`` into whole seconds."""
    cleaned = text.strip().lower()
    if cleaned.isdigit():
        return int(cleaned)
    parts = _DURATION.findall(cleaned)
    if not parts or _DURATION.sub("", cleaned).strip():
        raise ValueError(f"'{text}' is not a duration; write e.g. 90s, 30m, 1h30m or 2h")
    return int(sum(float(amount) * _SECONDS[unit] for amount, unit in parts))


def load_recipe(
    source: str | Path | dict[str, Any] | Recipe, overrides: dict[str, Any] | None = None
) -> Recipe:
    """Load and validate a recipe from a YAML path, a dict or a :class:`Recipe`.

    Relative data paths in a file are taken from the file's folder; in a dict, from the current
    folder. ``overrides`` maps dotted field names (``"search.trials"``) to values.

    Example:
        >>> recipe = load_recipe({"name": "demo", "data": {"train": "t.csv", "target": "y"}},
        ...                      overrides={"search.trials": 5})
        >>> recipe.search.trials
        5
    """
    if isinstance(source, Recipe):
        raw, origin, base = source.model_dump(exclude_unset=True), "recipe", Path.cwd()
    elif isinstance(source, dict):
        raw, origin, base = dict(source), "recipe", Path.cwd()
    else:
        path = Path(source)
        raw, origin, base = _read_yaml(path), str(path), path.resolve().parent
        raw.setdefault("name", path.stem)
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        raise UserError(f"{origin}: {_first_error(exc)}") from None
    return _resolve_paths(recipe, base)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise UserError(f"{path}: recipe file not found")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected a recipe file (.yaml)")
    try:
        loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 text file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UserError(f"{path}{where}: {problem}") from None
    if loaded is None:
        raise UserError(f"{path}: the recipe is empty")
    if not isinstance(loaded, dict):
        raise UserError(f"{path}: a recipe is a mapping of sections (name, data, space, ...)")
    return loaded


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load``, but a key given twice in one mapping is an error, not the last wins."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' appears twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = (
                dict(child.model_dump(exclude_unset=True)) if isinstance(child, BaseModel) else {}
            )
            node[key] = child
        node = child
    node[leaf] = value


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"] if part not in _DIMENSION_TAGS)
    message = first["msg"].removeprefix("Value error, ") + _given(first)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {message}{more}" if where else f"{message}{more}"


_DIMENSION_TAGS = {"fixed", "range", "choices"}


def _given(error: Any) -> str:
    """``", got 'many'"`` for a type or choice error on a plain value, else an empty string."""
    value = error.get("input")
    if not error["msg"].startswith("Input should be") or not isinstance(value, (str, int, float)):
        return ""
    return f", got {value!r}"


def _resolve_paths(recipe: Recipe, base: Path) -> Recipe:
    data = recipe.data
    resolved = data.model_copy(
        update={
            "train": (base / data.train).resolve() if data.train is not None else None,
            "test": (base / data.test).resolve() if data.test is not None else None,
        }
    )
    return recipe.model_copy(update={"data": resolved})
