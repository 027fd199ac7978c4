"""The recipe: what to search, on which data, with which budget, validated before anything runs.

A recipe is YAML (safe-loaded; a key given twice is an error), a dict, or a :class:`Recipe`. Every
mistake is reported as one :class:`~automl.errors.UserError` line naming the field and what is
allowed.
"""

from automl.recipe._dimensions import (
    ACTIVATIONS,
    INITIALIZERS,
    METRICS,
    OPTIMIZERS,
    TRANSFORMS,
    Choices,
    FloatRange,
    IntRange,
)
from automl.recipe._load import load_recipe, parse_overrides
from automl.recipe._presets import (
    DEFAULT_PRESET,
    PRESETS,
    is_table,
    preset_fields,
    table_recipe,
)
from automl.recipe._schema import (
    BackendConfig,
    CatBoostConfig,
    DataConfig,
    EarlyStoppingConfig,
    EnsembleConfig,
    ExtraTreesConfig,
    HalvingConfig,
    LightGBMConfig,
    Recipe,
    ReferenceConfig,
    SearchConfig,
    SpaceConfig,
    TrainingConfig,
    parse_duration,
)

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_PRESET",
    "INITIALIZERS",
    "METRICS",
    "OPTIMIZERS",
    "PRESETS",
    "TRANSFORMS",
    "BackendConfig",
    "CatBoostConfig",
    "Choices",
    "DataConfig",
    "EarlyStoppingConfig",
    "EnsembleConfig",
    "ExtraTreesConfig",
    "FloatRange",
    "HalvingConfig",
    "IntRange",
    "LightGBMConfig",
    "Recipe",
    "ReferenceConfig",
    "SearchConfig",
    "SpaceConfig",
    "TrainingConfig",
    "is_table",
    "load_recipe",
    "parse_duration",
    "parse_overrides",
    "preset_fields",
    "table_recipe",
]
