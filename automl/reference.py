"""The reference row: scikit-learn's HistGradientBoostingClassifier trained on the search's folds.

It shows on the leaderboard whether the network search beat gradient boosting, and its
out-of-fold predictions and fold models may join the ensemble. Its artifacts live in
``reference/`` in the run folder (the layout of :mod:`automl.artifacts`), so a resumed run keeps
them; its scores live in the study's ``reference`` attribute.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from automl.artifacts import load_oof, out_of_fold, save_fold_models
from automl.data import Dataset
from automl.evaluate import Folds
from automl.leaderboard import REFERENCE_ATTR
from automl.metrics import score_all
from automl.preprocess import fit_transform
from automl.recipe import ReferenceConfig

REFERENCE_FOLDER = "reference"


def describe(config: ReferenceConfig) -> str:
    """One readable cell for the leaderboard's architecture column."""
    return (
        f"HistGradientBoosting lr{config.learning_rate:g} iter{config.max_iter} "
        f"leaves{config.max_leaf_nodes} min_leaf{config.min_samples_leaf} "
        f"l2={config.l2_regularization:g} features={config.max_features:g} "
        f"early_stopping={config.early_stopping}"
    )


def build_reference(config: ReferenceConfig, seed: int) -> Any:
    """An unfitted HistGradientBoostingClassifier with the recipe's settings."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        learning_rate=config.learning_rate,
        max_iter=config.max_iter,
        max_leaf_nodes=config.max_leaf_nodes,
        min_samples_leaf=config.min_samples_leaf,
        l2_regularization=config.l2_regularization,
        max_features=config.max_features,
        early_stopping=config.early_stopping,
        random_state=seed,
    )


def ensure_reference(
    study: optuna.Study,
    dataset: Dataset,
    folds: Folds,
    config: ReferenceConfig,
    metric: str,
    seed: int,
    run_dir: Path,
) -> dict[str, Any]:
    """Train the reference on ``folds`` unless the run folder already holds it; its scores."""
    folder = run_dir / REFERENCE_FOLDER
    recorded = study.user_attrs.get(REFERENCE_ATTR)
    if (
        recorded
        and recorded.get("architecture") == describe(config)
        and load_oof(folder) is not None
    ):
        return recorded
    started = time.perf_counter()
    pairs, probas, fold_scores = [], [], []
    for train_rows, valid_rows in folds:
        train, valid = dataset.rows(train_rows), dataset.rows(valid_rows)
        preprocessor, (x_train, x_valid) = fit_transform(
            dataset.schema, train.features, valid.features
        )
        model = build_reference(config, seed).fit(x_train, train.target)
        proba = model.predict_proba(x_valid)
        probas.append(proba)
        fold_scores.append(score_all(metric, valid.target, proba))
        pairs.append((model, preprocessor))
    oof = out_of_fold(probas, folds, len(dataset))
    save_fold_models(folder, oof, pairs)
    values = [s[metric] for s in fold_scores]
    record = {
        "value": float(np.mean(values)),
        "fold_values": values,
        "std": float(np.std(values)),
        "log_loss": float(np.mean([s["log_loss"] for s in fold_scores])),
        "accuracy": float(np.mean([s["accuracy"] for s in fold_scores])),
        "seconds": time.perf_counter() - started,
        "architecture": describe(config),
    }
    study.set_user_attr(REFERENCE_ATTR, record)
    return record
