"""The reference rows: gradient boosting and tree models trained on the search's folds.

The gradient boosting reference (HistGradientBoostingClassifier, ``reference``) shows on the
leaderboard whether the network search beat gradient boosting; extra trees (ExtraTreesClassifier,
``extra_trees``) are a model unlike both; CatBoost (``catboost``, the optional catboost package) is
a stronger gradient boosting on small tables, LightGBM (``lightgbm``, the optional lightgbm
package) a faster one on large tables. The out-of-fold predictions and fold models of each
may join the ensemble. A reference's artifacts live in a folder of the run named after it (laid
out as a trial's, see :func:`automl.results.save_fold_models`), so a resumed run keeps them; its
scores live in the study attribute of the same name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from automl.data import Dataset, fit_transform
from automl.metrics import score_all
from automl.recipe import (
    CatBoostConfig,
    ExtraTreesConfig,
    LightGBMConfig,
    Recipe,
    ReferenceConfig,
)
from automl.results._artifacts import load_oof, out_of_fold, save_fold_models
from automl.results._booster_storage import LightGBMModel
from automl.results._leaderboard import (
    CATBOOST_ATTR,
    EXTRA_TREES_ATTR,
    LIGHTGBM_ATTR,
    REFERENCE_ATTR,
)
from automl.tuning import Folds, record

# A reference's training: (features, classes, row weights or None) to a fitted model with
# ``predict_proba``.
Fit = Callable[[np.ndarray, np.ndarray, np.ndarray | None], Any]


@dataclass(frozen=True)
class Reference:
    """One reference: its name (study attribute, run folder and ensemble candidate), its
    leaderboard cell and how to fit it."""

    name: str
    description: str
    fit: Fit


def references(recipe: Recipe) -> list[Reference]:
    """The recipe's enabled references, gradient boosting first.

    A recipe's class weights join the description, so a run whose weights changed trains its
    references again.
    """
    seed = recipe.search.seed
    found = []
    if recipe.reference.enabled:
        found.append(_gradient_boosting(recipe.reference, seed))
    if recipe.extra_trees.enabled:
        found.append(_extra_trees(recipe.extra_trees, seed))
    if recipe.catboost.enabled:
        found.append(_catboost(recipe.catboost, seed))
    if recipe.lightgbm.enabled:
        found.append(_lightgbm(recipe.lightgbm, seed))
    weighting = _class_weight(recipe.training.class_weight)
    return [replace(r, description=r.description + weighting) for r in found]


def _class_weight(class_weight: str | dict[str, float]) -> str:
    """`` class_weight=balanced``, `` class_weight=yes:3``, or nothing for ``none``."""
    if class_weight == "none":
        return ""
    if isinstance(class_weight, dict):
        class_weight = ",".join(f"{label}:{weight:g}" for label, weight in class_weight.items())
    return f" class_weight={class_weight}"


def _gradient_boosting(config: ReferenceConfig, seed: int) -> Reference:
    def make() -> Any:
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

    description = (
        f"HistGradientBoosting lr{config.learning_rate:g} iter{config.max_iter} "
        f"leaves{config.max_leaf_nodes} min_leaf{config.min_samples_leaf} "
        f"l2={config.l2_regularization:g} features={config.max_features:g} "
        f"early_stopping={config.early_stopping}"
    )
    return Reference(REFERENCE_ATTR, description, _fitting(make))


def _extra_trees(config: ExtraTreesConfig, seed: int) -> Reference:
    def make() -> Any:  # on every core
        from sklearn.ensemble import ExtraTreesClassifier

        return ExtraTreesClassifier(
            n_estimators=config.trees,
            max_features=config.max_features,
            min_samples_leaf=config.min_samples_leaf,
            n_jobs=-1,
            random_state=seed,
        )

    description = (
        f"ExtraTrees trees{config.trees} features={config.max_features:g} "
        f"min_leaf{config.min_samples_leaf}"
    )
    return Reference(EXTRA_TREES_ATTR, description, _fitting(make))


def _fitting(make: Callable[[], Any]) -> Fit:
    """The :data:`Fit` of the scikit-learn estimator ``make`` returns."""

    def fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None) -> Any:
        return make().fit(x, y, sample_weight=weights)

    return fit


def _catboost(config: CatBoostConfig, seed: int) -> Reference:
    def fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None) -> Any:
        from catboost import CatBoostClassifier

        model = CatBoostClassifier(
            iterations=config.iterations,
            learning_rate=config.learning_rate,
            depth=config.depth,
            random_seed=seed,
            thread_count=-1,
            verbose=0,
            allow_writing_files=False,
        )
        held_out = _early_stopping_rows(y, seed) if config.early_stopping else None
        if held_out is None:
            return model.fit(x, y, sample_weight=weights)
        train, valid = held_out
        return model.fit(
            x[train],
            y[train],
            sample_weight=None if weights is None else weights[train],
            eval_set=(x[valid], y[valid]),
            early_stopping_rounds=_PATIENCE,
        )

    description = (
        f"CatBoost lr{config.learning_rate:g} iter{config.iterations} depth{config.depth} "
        f"early_stopping={config.early_stopping}"
    )
    return Reference(CATBOOST_ATTR, description, fit)


def _lightgbm(config: LightGBMConfig, seed: int) -> Reference:
    def fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None) -> LightGBMModel:
        import lightgbm

        classes = int(y.max()) + 1
        parameters: dict[str, Any] = {
            "objective": "binary" if classes == 2 else "multiclass",
            "num_class": 1 if classes == 2 else classes,
            "learning_rate": config.learning_rate,
            "num_leaves": config.leaves,
            "min_child_samples": config.min_samples_leaf,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }

        def rows(index: np.ndarray) -> Any:
            weight = None if weights is None else weights[index]
            return lightgbm.Dataset(x[index], y[index], weight=weight)

        held_out = _early_stopping_rows(y, seed) if config.early_stopping else None
        if held_out is None:
            booster = lightgbm.train(parameters, rows(np.arange(len(y))), config.iterations)
        else:
            train, valid = held_out
            booster = lightgbm.train(
                parameters,
                rows(train),
                config.iterations,
                valid_sets=[rows(valid)],
                callbacks=[lightgbm.early_stopping(_PATIENCE, verbose=False)],
            )
        return LightGBMModel(booster)

    description = (
        f"LightGBM lr{config.learning_rate:g} iter{config.iterations} leaves{config.leaves} "
        f"min_leaf{config.min_samples_leaf} early_stopping={config.early_stopping}"
    )
    return Reference(LIGHTGBM_ATTR, description, fit)


_PATIENCE = 10  # rounds without gain on the held-out tenth, as HistGradientBoosting's default
_HELD_OUT = 0.1


def _early_stopping_rows(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A stratified tenth of the rows to stop on, and the rest to train on; ``None`` when a class
    has fewer than two rows (the tenth could not hold one of each)."""
    from sklearn.model_selection import StratifiedShuffleSplit

    counts = np.unique(y, return_counts=True)[1]
    held_out = max(round(_HELD_OUT * len(y)), len(counts))
    if counts.min() < 2 or held_out > len(y) - len(counts):
        return None
    split = StratifiedShuffleSplit(n_splits=1, test_size=held_out, random_state=seed)
    train, valid = next(split.split(np.zeros((len(y), 1)), y))
    return train, valid


def fit_reference(reference: Reference, rows: Dataset) -> tuple[Any, Any]:
    """``reference`` fitted on ``rows`` (with their weights), and its preprocessor."""
    preprocessor, (x,) = fit_transform(rows.schema, rows.features)
    return reference.fit(x, rows.target, rows.weights), preprocessor


def ensure_reference(
    study: optuna.Study,
    dataset: Dataset,
    folds: Folds,
    reference: Reference,
    metric: str,
    folder: Path,
) -> dict[str, Any]:
    """Train ``reference`` on ``folds`` unless ``folder`` already holds it; its scores."""
    recorded = study.user_attrs.get(reference.name)
    if (
        recorded
        and recorded.get(record.ARCHITECTURE) == reference.description
        and load_oof(folder) is not None
    ):
        return recorded
    started = time.perf_counter()
    pairs, probas, fold_scores = [], [], []
    for train_rows, valid_rows in folds:
        valid = dataset.rows(valid_rows)
        model, preprocessor = fit_reference(reference, dataset.rows(train_rows))
        proba = model.predict_proba(preprocessor.transform(valid.features))
        probas.append(proba)
        fold_scores.append(score_all(metric, valid.target, proba))
        pairs.append((model, preprocessor))
    oof = out_of_fold(probas, folds, len(dataset))
    writing = time.perf_counter()
    save_fold_models(folder, oof, pairs)
    written = time.perf_counter() - writing
    values = [s[metric] for s in fold_scores]
    row = {
        record.EXTRA_ROW_VALUE: float(np.mean(values)),
        record.FOLD_VALUES: values,
        record.STD: float(np.std(values)),
        record.LOG_LOSS: float(np.mean([s["log_loss"] for s in fold_scores])),
        record.ACCURACY: float(np.mean([s["accuracy"] for s in fold_scores])),
        record.SECONDS: time.perf_counter() - started,
        record.WRITE_SECONDS: written,
        record.ARCHITECTURE: reference.description,
    }
    study.set_user_attr(reference.name, row)
    return row
