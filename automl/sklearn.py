"""A scikit-learn estimator around the search: :class:`AutoMLClassifier`.

``fit`` runs a whole search (the same engine as ``automl search``) in a temporary run folder and
keeps the best model bundle in memory, so the estimator works in pipelines, ``cross_val_score``
and ``GridSearchCV``, and pickles with joblib.
"""

from __future__ import annotations

import contextlib
import logging
import numbers
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from automl.data import FeatureSchema, check_row_weights, prepare_features
from automl.errors import UserError
from automl.plugins import registry
from automl.recipe import Recipe, load_recipe, preset_fields
from automl.results import SearchResult
from automl.run import run_recipe

# Recipe fields as the estimator's parameters, for error messages (``space`` is matched apart).
_PARAMETERS = (
    ("search.trials", "n_trials"),
    ("search.folds", "cv"),
    ("search.metric", "metric"),
    ("search.timeout", "time"),
    ("search.seed", "random_state"),
    ("data.holdout", "holdout"),
    ("training.max_epochs", "max_epochs"),
    ("training.early_stopping.patience", "patience"),
    ("training.class_weight", "class_weight"),
    ("backend.options", "backend_options"),
    ("backend.name", "backend"),
)
_SEED_LIMIT = np.iinfo(np.int32).max


class AutoMLClassifier(ClassifierMixin, BaseEstimator):
    """An Optuna search over Keras networks, as a scikit-learn classifier.

    ``fit`` runs ``n_trials`` trials, each scored by stratified ``cv``-fold cross-validation with
    early stopping, then trains the best trial's network on all rows (minus the holdout). The
    search uses the recipe's default sampler (seeded TPE) and its median pruner, which never
    prunes before the sixth trial, so small budgets run every trial to the end. With a
    ``preset`` (``fast``, ``good`` or ``best``, as ``automl search data.csv --preset``), the
    search is the preset's instead: references first, networks for the ``time`` budget, and an
    ensemble of both; parameters given explicitly still win. Numeric columns
    are imputed (median) and standardised, text columns of a DataFrame one-hot encoded; arrays are
    numeric and may hold NaN.

    Args:
        search_space: the network search space in the recipe's ``space`` format, e.g.
            ``{"layers": {"low": 1, "high": 2}, "units": [16, 64], "learning_rate": 0.01}``;
            ``None`` searches the recipe's default space.
        n_trials: number of trials (networks) to try (``None``: 10, or as many as the preset's
            time allows).
        cv: folds of the stratified cross-validation that scores each trial (at least 2; every
            class needs at least ``cv`` rows; ``None``: 3, or the preset's for the table's
            size).
        backend: name of an installed backend (``automl backends`` lists them).
        metric: what the search optimises: ``log_loss`` (minimised), ``accuracy``,
            ``balanced_accuracy``, ``f1_macro``, ``roc_auc`` or ``average_precision``.
        max_epochs: most epochs per network (``None``: 20, or the preset's).
        patience: early-stopping patience in epochs (``None``: 5).
        time: the time budget of the whole fit, in seconds or as ``"30m"``, ``"1h"`` (``None``:
            none, or the preset's).
        preset: ``None`` (the parameters alone), ``"fast"``, ``"good"`` or ``"best"``.
        holdout: fraction of rows held out of the search and the final model, to score the best
            model at the end (``holdout_scores_``); 0 uses every row.
        random_state: seed of the sampler, the folds and the network weights (an int, ``None`` or
            a ``numpy.random.RandomState``).
        backend_options: the backend's options (the recipe's ``backend.options``).
        class_weight: weigh each training row's loss by its class: ``None``, ``"balanced"``
            (rows / (classes * the class's rows)) or ``{label: weight}`` (other classes weigh 1).
            Scores stay unweighted.

    Attributes:
        classes_: the class labels, in the order of ``predict_proba``'s columns (natural order:
            ``Class_2`` before ``Class_10``).
        n_features_in_: number of features seen in ``fit``.
        feature_names_in_: the feature names seen in ``fit``, when X was a DataFrame with string
            column names.
        best_: the best trial's :class:`~automl.results.ModelBundle`.
        leaderboard_: one row per trial, best first (a pandas DataFrame).
        best_params_: the best trial's sampled parameters.
        best_score_: the best trial's mean cross-validated ``metric`` (lower is better for
            ``log_loss``).
        holdout_scores_: the best model's scores on the holdout rows, or ``None`` without holdout.

    Example:
        >>> from automl import AutoMLClassifier
        >>> model = AutoMLClassifier(n_trials=5, max_epochs=10)
        >>> model.fit(X_train, y_train)  # doctest: +SKIP
        >>> model.predict_proba(X_test)  # doctest: +SKIP
        >>> model.leaderboard_.head()  # doctest: +SKIP
    """

    def __init__(
        self,
        search_space: dict[str, Any] | None = None,
        n_trials: int | None = None,
        cv: int | None = None,
        backend: str = "local",
        metric: str = "log_loss",
        max_epochs: int | None = None,
        patience: int | None = None,
        time: int | str | None = None,
        holdout: float = 0.0,
        random_state: int | np.random.RandomState | None = 0,
        backend_options: dict[str, Any] | None = None,
        class_weight: str | dict[Any, float] | None = None,
        preset: str | None = None,
    ) -> None:
        self.search_space = search_space
        self.n_trials = n_trials
        self.cv = cv
        self.backend = backend
        self.metric = metric
        self.max_epochs = max_epochs
        self.patience = patience
        self.time = time
        self.holdout = holdout
        self.random_state = random_state
        self.backend_options = backend_options
        self.class_weight = class_weight
        self.preset = preset

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> AutoMLClassifier:
        """Search networks for ``X`` and ``y`` and keep the best one.

        Args:
            X: a pandas DataFrame (numeric and text columns) or a numeric array-like of shape
                (n_samples, n_features); NaN is imputed.
            y: class labels of any type, shape (n_samples,).
            sample_weight: a non-negative weight per row, shape (n_samples,), that scales the
                row's training loss (times its class's weight); ``None`` weighs every row 1.
                Scores stay unweighted.

        Returns:
            The fitted estimator.

        Raises:
            ValueError: for invalid parameters or data (the message names the parameter).
            RuntimeError: when no trial completed (the message gives the first reason).
        """
        features, labels = self._check_training_data(X, y)
        weights = None if sample_weight is None else _check_sample_weight(sample_weight, labels)
        target = _free_name("y", features.columns)
        output = Path(tempfile.mkdtemp(prefix="automl-sklearn-"))
        try:
            table = features.assign(**{target: labels})
            self._keep(self._search(table, target, output, weights))
        finally:
            shutil.rmtree(output, ignore_errors=True)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of shape (n_samples, n_classes), columns in ``classes_`` order.

        Args:
            X: rows with the features seen in ``fit`` (a DataFrame with the same columns, or an
                array-like with as many columns).
        """
        check_is_fitted(self, "best_")
        return self.best_.predict_proba(self._check_features(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label of each row, from ``classes_``.

        Args:
            X: rows with the features seen in ``fit``, as for :meth:`predict_proba`.
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def __sklearn_tags__(self) -> Any:
        """NaN in X is imputed, so it is allowed."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _check_training_data(self, X: Any, y: Any) -> tuple[pd.DataFrame, np.ndarray]:
        """Validate X and y, record the feature count and names; X as a frame, y as labels."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, skip_check_array=True)
            y = column_or_1d(y, warn=True)
            check_consistent_length(X, y)
        else:
            X, y = validate_data(self, X, y, ensure_all_finite="allow-nan")
        check_classification_targets(y)
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = [f"x{i}" for i in range(self.n_features_in_)]
        elif len(set(names)) < len(names):
            raise ValueError("X has duplicate column names; give every column its own name")
        return _as_frame(X, list(names)), _python_labels(y)

    def _check_features(self, X: Any) -> pd.DataFrame:
        """Validate X against the fitted features and coerce it like the training rows."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=False, skip_check_array=True)
        else:
            X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        schema: FeatureSchema = self.best_.schema
        frame = _as_frame(X, list(schema.columns))
        try:
            features, _ = prepare_features(frame, Path("X"), set(schema.categorical))
        except UserError as exc:
            raise ValueError(str(exc)) from None
        return features

    def _recipe(self, target: str, output: Path, labels: pd.Series) -> Recipe:
        """The recipe these parameters (and the preset, for a table of ``labels``) describe,
        validated."""
        sizes = labels.value_counts()
        recipe: dict[str, Any] = (
            preset_fields(self.preset, len(labels), int(sizes.min()))
            if self.preset is not None
            else {"search": {"trials": 10, "folds": 3}, "training": {"max_epochs": 20}}
        )
        search, training = recipe.setdefault("search", {}), recipe.setdefault("training", {})
        given = {
            "trials": self.n_trials,
            "folds": self.cv,
            "timeout": self.time,
        }
        search.update({k: v for k, v in given.items() if v is not None})
        search.update({"metric": self.metric, "seed": _seed(self.random_state), "pruner": "median"})
        if self.max_epochs is not None:
            training["max_epochs"] = self.max_epochs
        if self.patience is not None:
            training["early_stopping"] = {"patience": self.patience}
        training["class_weight"] = "none" if self.class_weight is None else self.class_weight
        recipe.update(
            name="sklearn",
            data={"target": target, "holdout": self.holdout},
            backend={"name": self.backend, "options": self.backend_options or {}},
            output=str(output),
        )
        if self.search_space is not None:
            recipe["space"] = self.search_space
        return load_recipe(recipe)

    def _search(
        self, table: pd.DataFrame, target: str, output: Path, weights: np.ndarray | None
    ) -> SearchResult:
        """Run the search on ``table`` (rows weighted by ``weights``) in the run folder
        ``output``."""
        try:
            recipe = self._recipe(target, output, table[target])
            backend = registry().backend(recipe.backend.name).create(recipe.backend.options)
        except UserError as exc:
            raise ValueError(_parameter_message(str(exc))) from None
        try:
            with _quiet_libraries():
                return run_recipe(recipe, backend, table=table, report=False, sample_weight=weights)
        except UserError as exc:
            raise ValueError(_parameter_message(str(exc))) from None
        finally:
            backend.close()

    def _keep(self, result: SearchResult) -> None:
        """Set the learned attributes from a finished search (its study is still readable)."""
        if result.best is None:
            reasons = result.leaderboard["reason"].dropna()
            first = reasons.iloc[0] if len(reasons) else "no trial ran"
            raise RuntimeError(f"no trial completed; the first failure: {first}")
        self.best_ = result.best
        self.classes_ = np.asarray(result.best.classes)
        self.leaderboard_ = result.leaderboard
        self.best_params_ = dict(result.study.best_trial.params)
        self.best_score_ = float(result.study.best_value)
        self.holdout_scores_ = result.holdout


def _as_frame(X: Any, columns: list[str]) -> pd.DataFrame:
    """X (a DataFrame or a validated array) as a new frame with the given column names."""
    if isinstance(X, pd.DataFrame):
        return X.set_axis(columns, axis=1)
    return pd.DataFrame(X, columns=columns)


def _python_labels(y: np.ndarray) -> np.ndarray:
    """The labels as Python values (an object array), so that ``classes_`` sorts numbers by value.

    The engine's natural sort compares Python numbers by value but NumPy scalars as text, which
    would put label 1 before -1 and 1.5 before 1.25.
    """
    return np.array(y.tolist(), dtype=object)


def _check_sample_weight(sample_weight: Any, labels: np.ndarray) -> np.ndarray:
    """``sample_weight`` as one finite, non-negative float per row, some above 0 in every class."""
    weights = column_or_1d(np.asarray(sample_weight, dtype=np.float64))
    check_consistent_length(labels, weights)
    check_row_weights(weights, labels, "sample_weight")
    return weights


def _free_name(name: str, taken: pd.Index) -> str:
    """``name``, with underscores appended until it is not among ``taken``."""
    while name in taken:
        name += "_"
    return name


def _seed(random_state: int | np.random.RandomState | None) -> int:
    """The recipe's integer seed for scikit-learn's ``random_state``."""
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(_SEED_LIMIT))


def _parameter_message(message: str) -> str:
    """An engine error in the parameters' terms: ``recipe: search.folds: ...`` → ``cv: ...``."""
    message = message.removeprefix("recipe: ").removeprefix("training frame: ")
    for field, parameter in _PARAMETERS:
        message = message.replace(field, parameter)
    return re.sub(r"^space\b", "search_space", message)


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Hide Optuna's per-trial lines and TensorFlow's retracing warnings during a fit.

    The caller's log levels come back afterwards; environment variables are left alone.
    """
    tensorflow = logging.getLogger("tensorflow")
    previous = optuna.logging.get_verbosity(), tensorflow.level
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tensorflow.setLevel(logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous[0])
        tensorflow.setLevel(previous[1])
