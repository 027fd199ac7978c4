"""The recipe's sections and fields, with defaults and the checks that name what is allowed."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from automl._text import did_you_mean
from automl.recipe._dimensions import (
    Activation,
    ActivationDim,
    BoolDim,
    Choices,
    FloatDim,
    FloatRange,
    Initializer,
    InitializerDim,
    IntDim,
    IntRange,
    Metric,
    Optimizer,
    OptimizerDim,
    ScheduleDim,
    Section,
    Transform,
    TransformDim,
    _check_span,
)

# Where each numeric dimension's values must lie (inclusive low, exclusive below/above).
_SPANS: dict[str, dict[str, float]] = {
    "layers": {"low": 0},
    "units": {"low": 1},
    "batch_size": {"low": 1},
    "dropout": {"low": 0.0, "below": 1.0},
    "input_dropout": {"low": 0.0, "below": 1.0},
    "learning_rate": {"above": 0.0},
}


class SpaceConfig(Section):
    """The network search space; each dimension is a fixed value, a range or a list of choices."""

    layers: IntDim = IntRange(low=1, high=3)
    units: IntDim = IntRange(low=32, high=512, log=True)
    hidden_units: list[int] | None = Field(None, min_length=1)
    activation: ActivationDim = Choices[Activation](choices=["relu", "elu", "gelu", "swish"])
    initializer: InitializerDim = Choices[Initializer](
        choices=["glorot_uniform", "he_normal", "lecun_normal"]
    )
    batch_norm: BoolDim = Choices[bool](choices=[False, True])
    dropout: FloatDim = FloatRange(low=0.0, high=0.5)
    input_dropout: FloatDim = 0.0
    optimizer: OptimizerDim = Choices[Optimizer](choices=["adam", "adamw", "nadam"])
    learning_rate: FloatDim = FloatRange(low=1e-4, high=1e-2, log=True)
    batch_size: IntDim = Choices[int](choices=[64, 128, 256, 512])
    transform: TransformDim = Choices[Transform](choices=["none", "log1p", "quantile"])
    lr_schedule: ScheduleDim = "constant"
    warm_start: list[dict[str, Any]] = Field(
        [], description="parameters of the first trials, e.g. {layers: 2, units_1: 200, ...}"
    )

    @field_validator("warm_start")
    @classmethod
    def _known_parameters(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        names = [n for n in cls.model_fields if n not in {"units", "hidden_units", "warm_start"}]
        for point in value:
            for key in point:
                if key not in names and not re.fullmatch(r"units_[1-9]\d*", str(key)):
                    raise ValueError(
                        f"unknown parameter '{key}'{did_you_mean(str(key), names)}; "
                        f"allowed: {', '.join(names)}, units_1, units_2, ..."
                    )
        return value

    @field_validator(*_SPANS)
    @classmethod
    def _within_span(cls, value: Any, info: ValidationInfo) -> Any:
        assert info.field_name is not None  # a field validator always names its field
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


ClassWeight = Literal["none", "balanced"] | dict[str, float]


class TrainingConfig(Section):
    """How each network is trained and how the final model is made.

    ``class_weight`` weighs each training row's loss by its class: ``none``, ``balanced`` (rows
    / (classes * the class's rows), as scikit-learn's ``compute_class_weight``) or a mapping of
    label to weight (unlisted classes weigh 1). Scores stay unweighted.
    """

    max_epochs: int = Field(50, ge=1)
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    final_model: Literal["refit", "fold_ensemble", "ensemble"] = "refit"
    class_weight: ClassWeight = "none"

    @field_validator("class_weight", mode="before")
    @classmethod
    def _weights(cls, value: Any) -> Any:
        return _check_class_weight(value)


def _check_class_weight(value: Any) -> str | dict[str, float]:
    """``none``, ``balanced``, or ``{label: weight}`` with labels as text and weights above 0."""
    if value is None or value in ("none", "balanced"):
        return "none" if value is None else value
    if not isinstance(value, dict) or not value:
        shown = str(value).lower() if isinstance(value, bool) else repr(value)
        raise ValueError(f"expected none, balanced or a mapping of label to weight, got {shown}")
    weights = {}
    for label, weight in value.items():
        number = isinstance(weight, (int, float)) and not isinstance(weight, bool)
        if not number or not 0 < weight < math.inf:
            raise ValueError(
                f"the weight of class '{label}' must be a number above 0, got {weight!r}"
            )
        weights[str(label)] = float(weight)
    return weights


class ReferenceConfig(Section):
    """The gradient boosting reference: scikit-learn's HistGradientBoostingClassifier."""

    enabled: bool = False
    learning_rate: float = Field(0.1, gt=0)
    max_iter: int = Field(100, ge=1)
    max_leaf_nodes: int = Field(31, ge=2)
    min_samples_leaf: int = Field(20, ge=1)
    l2_regularization: float = Field(0.0, ge=0)
    max_features: float = Field(1.0, gt=0, le=1)
    early_stopping: Literal["auto"] | bool = Field(
        True,
        description="stop adding trees once 10% of each fold's training rows, held out, stop "
        "improving ('auto': only above 10,000 rows, as scikit-learn does)",
    )


class ExtraTreesConfig(Section):
    """A second reference: scikit-learn's ExtraTreesClassifier, unlike both gradient boosting and
    the networks, so a stacked ensemble gains from it even where it scores worse alone."""

    enabled: bool = False
    trees: int = Field(300, ge=1)
    max_features: float = Field(0.3, gt=0, le=1, description="the features each split may try")
    min_samples_leaf: int = Field(1, ge=1)


_STOPPING_FOR_10_ROUNDS = (
    "stop adding trees once 10% of each fold's training rows, held out, stop improving for 10 "
    "rounds"
)


class CatBoostConfig(Section):
    """A third reference: CatBoost's gradient boosting (oblivious trees), which beat
    HistGradientBoosting out of fold on every small table ``bench/boosters.py`` measured. It needs
    the optional ``catboost`` package (``pip install 'automl[catboost]'``)."""

    enabled: bool = False
    learning_rate: float = Field(0.1, gt=0)
    iterations: int = Field(1000, ge=1, description="at most so many trees")
    depth: int = Field(6, ge=1, le=16)
    early_stopping: bool = Field(True, description=_STOPPING_FOR_10_ROUNDS)

    @field_validator("enabled")
    @classmethod
    def _installed(cls, enabled: bool) -> bool:
        return _needs_package(enabled, "catboost")


class LightGBMConfig(Section):
    """A fourth reference: LightGBM's gradient boosting (leaf-wise trees), which on Otto scored
    better than HistGradientBoosting out of fold and on the holdout in half its time
    (``bench/boosters.py``). It needs the optional ``lightgbm`` package (``pip install
    'automl[lightgbm]'``)."""

    enabled: bool = False
    learning_rate: float = Field(0.1, gt=0)
    iterations: int = Field(1000, ge=1, description="at most so many trees")
    leaves: int = Field(31, ge=2, le=131_072, description="at most so many leaves a tree")
    min_samples_leaf: int = Field(20, ge=1)
    early_stopping: bool = Field(True, description=_STOPPING_FOR_10_ROUNDS)

    @field_validator("enabled")
    @classmethod
    def _installed(cls, enabled: bool) -> bool:
        return _needs_package(enabled, "lightgbm")


def _needs_package(enabled: bool, package: str) -> bool:
    """``enabled``, unless it is true and the optional ``package`` is missing."""
    if enabled and not installed(package):
        raise ValueError(f"needs the {package} package: pip install 'automl[{package}]'")
    return enabled


def installed(package: str) -> bool:
    """Whether the optional ``package`` can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec(package) is not None


class EnsembleConfig(Section):
    """The ensemble of the best trials (``training.final_model: ensemble``): greedy selection
    (weights) or stacking (a logistic regression over the candidates' log-probabilities), or
    ``auto``: both, and the one with the better out-of-fold score."""

    method: Literal["greedy", "stack", "auto"] = "greedy"
    candidates: int = Field(10, ge=1, description="the best trials the ensemble may use")
    rounds: int = Field(50, ge=1, description="greedy selection's rounds")
    reference: bool = Field(True, description="the references may join the ensemble")
    seeds: int = Field(
        1,
        ge=1,
        description="the best trial is trained this many times with other seeds, and the "
        "ensemble averages them (bagging over seeds; 1: off)",
    )
    refit_references: bool = Field(
        False,
        description="a reference in the final model is fitted once on every row, the holdout's "
        "too, instead of kept as its fold models; its weight (or the stacker) is the one chosen "
        "out of fold, and the holdout scores the ensemble before the refit",
    )


class DataConfig(Section):
    """Where the rows come from and which column is the target."""

    train: Path | None = None
    target: str
    id: str | None = None
    test: Path | None = None
    drop: list[str] = []
    categorical: Literal["auto"] | list[str] = "auto"
    holdout: float = Field(0.2, ge=0.0, lt=1.0)
    distributed: bool = Field(
        False,
        description="keep the rows where they are stored: a Spark backend reads data.train (a "
        "Parquet file or folder) or data.table, and trains and scores them on its executors",
    )
    table: str | None = Field(
        None,
        description="with distributed: a catalog table (sales.orders) or a Parquet location "
        "Spark reads (s3a://bucket/orders/), instead of data.train",
    )

    @model_validator(mode="after")
    def _id_is_not_target(self) -> DataConfig:
        if self.id is not None and self.id == self.target:
            raise ValueError(f"id and target both name column '{self.target}'; give two columns")
        return self

    @model_validator(mode="after")
    def _table_is_distributed(self) -> DataConfig:
        if self.table is not None and not self.distributed:
            raise ValueError("table names a Spark table; set distributed: true to search it")
        if self.table is not None and self.train is not None:
            raise ValueError("give train or table, not both")
        return self


class HalvingConfig(Section):
    """Successive halving over the epochs of each trial's first fold (asynchronous, as ASHA):
    at epochs ``first_rung``, ``first_rung * reduction``, … a trial goes on only while its
    validation loss there ranks among the best 1/``reduction`` of the trials that reached it."""

    enabled: bool = True
    first_rung: int = Field(3, ge=1, description="the first epoch at which trials are compared")
    reduction: int = Field(3, ge=2, description="keeps the best 1/reduction at each rung")
    min_trials: int = Field(
        5, ge=1, description="other trials that must have reached a rung before it prunes"
    )


class SearchConfig(Section):
    """The Optuna study: budget, scoring, sampler, pruner and storage."""

    trials: int | None = Field(20, ge=1)
    timeout: int | None = Field(None, ge=1, description="seconds; YAML may say '30m' or '2h'")
    folds: int = Field(3, ge=2)
    metric: Metric = "log_loss"
    sampler: Literal["tpe", "random", "cmaes", "gp", "qmc"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    halving: HalvingConfig = HalvingConfig()
    seed: int = 0
    storage: str | None = None
    max_failures: int | None = Field(10, ge=1, description="stop after this many failures in a row")
    parallel: int = Field(1, ge=1, description="trials run at once, each in a worker")
    heartbeat: int = Field(
        20,
        ge=1,
        description="seconds between a shared study's heartbeats; a trial silent for 3 beats "
        "is failed and run again",
    )
    trial_timeout: int | None = Field(
        None, ge=1, description="seconds one trial may run before it is failed; '90s', '10m'"
    )

    @field_validator("timeout", "trial_timeout", mode="before")
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
    ensemble: EnsembleConfig = EnsembleConfig()
    reference: ReferenceConfig = ReferenceConfig()
    extra_trees: ExtraTreesConfig = ExtraTreesConfig()
    catboost: CatBoostConfig = CatBoostConfig()
    lightgbm: LightGBMConfig = LightGBMConfig()
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
