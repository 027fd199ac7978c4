"""A recipe's training settings: what every fold of its search is trained with."""

from __future__ import annotations

from automl.recipe import Recipe
from automl.training import TrainSettings


def train_settings(recipe: Recipe) -> TrainSettings:
    """The settings a search with ``recipe`` trains each fold with: its epochs, its early
    stopping and its seed."""
    stopping = recipe.training.early_stopping
    return TrainSettings(
        max_epochs=recipe.training.max_epochs,
        monitor=stopping.monitor,
        patience=stopping.patience,
        min_delta=stopping.min_delta,
        restore_best_weights=stopping.restore_best_weights,
        seed=recipe.search.seed,
    )
