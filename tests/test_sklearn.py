"""AutoMLClassifier: the search as a scikit-learn estimator, on real tiny networks."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
from sample_tables import make_table
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from automl import AutoMLClassifier, ModelBundle

# One small fixed network, so that a fit is a few seconds of tracing and training.
FAST_SPACE = {
    "layers": 1,
    "units": 16,
    "activation": "relu",
    "batch_norm": False,
    "dropout": 0.0,
    "optimizer": "adam",
    "learning_rate": 0.03,
    "batch_size": 32,
}

# The estimator checks this estimator cannot pass, with the reason (check_array_api_input skips
# itself unless SCIPY_ARRAY_API is set).
EXPECTED_FAILED: dict[str, str] = {
    "check_sample_weight_equivalence_on_dense_data": (
        "a weight of 2 is not a repeated row: the search splits rows into stratified folds, "
        "and the check replaces cv with a splitter object"
    ),
    "check_class_weight_classifiers": (
        "weights of 1000 and 0.0001 shift the training loss, but early stopping keeps the epoch "
        "with the best unweighted validation loss (as Keras' EarlyStopping on val_loss does), "
        "which on 25 noisy rows per fold is an early one; tests/test_class_weight.py shows the "
        "weighted class's recall rise"
    ),
}


def tiny(**params: object) -> AutoMLClassifier:
    """The cheapest useful estimator: one trial, two folds, two epochs."""
    return AutoMLClassifier(
        **{"search_space": FAST_SPACE, "n_trials": 1, "cv": 2, "max_epochs": 2, **params}
    )


@pytest.fixture(scope="module")
def frame() -> tuple[pd.DataFrame, pd.Series]:
    """Features (numeric, text, one NaN) and string labels; a feature column is named 'y'."""
    table = make_table().rename(columns={"x1": "y"})
    return table.drop(columns=["id", "label"]), table["label"]


@pytest.fixture(scope="module")
def fitted(frame: tuple[pd.DataFrame, pd.Series]) -> AutoMLClassifier:
    features, labels = frame
    space = {**FAST_SPACE, "units": [8, 16]}
    return tiny(search_space=space, n_trials=2, max_epochs=5, holdout=0.2).fit(features, labels)


def test_fit_predict_score_on_a_frame(
    fitted: AutoMLClassifier, frame: tuple[pd.DataFrame, pd.Series]
) -> None:
    features, labels = frame
    untouched = features.copy()
    proba = fitted.predict_proba(features)
    assert list(fitted.classes_) == ["Class_1", "Class_2", "Class_10"]  # natural order
    assert list(fitted.classes_) == list(fitted.best_.classes)
    assert proba.shape == (len(features), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(fitted.predict(features)) <= set(fitted.classes_)
    assert fitted.score(features, labels) > 0.8
    pd.testing.assert_frame_equal(features, untouched)
    assert list(fitted.feature_names_in_) == ["y", "x2", "colour"]
    assert fitted.n_features_in_ == 3


def test_search_results_are_kept(fitted: AutoMLClassifier) -> None:
    assert isinstance(fitted.best_, ModelBundle)
    assert len(fitted.leaderboard_) == 2
    assert fitted.best_params_["units_1"] in (8, 16)
    assert fitted.best_score_ == pytest.approx(fitted.leaderboard_["log_loss"].iloc[0])
    assert set(fitted.holdout_scores_) >= {"log_loss", "accuracy"}


def test_unfitted_estimator_says_so() -> None:
    with pytest.raises(NotFittedError):
        tiny().predict(np.zeros((2, 2)))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"cv": 1}, "^cv: "),
        ({"cv": 40}, r"^class 'Class_1' has 30 rows for the search, fewer than cv \(40\)"),
        ({"n_trials": 0}, "^n_trials: "),
        ({"metric": "auc"}, "^metric: "),
        ({"search_space": {"units": {"low": 0, "high": 4}}}, "^search_space.units: "),
        ({"backend": "nowhere"}, "^backend: no backend 'nowhere'"),
        ({"backend_options": {"jit": True}}, "^backend_options.jit: unknown option"),
    ],
)
def test_bad_parameters_name_the_parameter(
    params: dict, message: str, frame: tuple[pd.DataFrame, pd.Series]
) -> None:
    with pytest.raises(ValueError, match=message):
        tiny(**params).fit(*frame)


def test_in_a_pipeline_with_cross_val_score(frame: tuple[pd.DataFrame, pd.Series]) -> None:
    features, labels = frame
    numbers = features[["y", "x2"]].to_numpy()  # holds a NaN for the imputer
    pipeline = make_pipeline(SimpleImputer(), tiny())
    scores = cross_val_score(pipeline, numbers, labels, cv=2)
    assert scores.shape == (2,)
    assert ((scores >= 0) & (scores <= 1)).all()


def test_grid_search_over_its_own_parameter(frame: tuple[pd.DataFrame, pd.Series]) -> None:
    features, labels = frame
    numbers = labels.map({"Class_1": 10, "Class_2": -1, "Class_10": 1}).to_numpy()
    search = GridSearchCV(tiny(), {"max_epochs": [1, 2]}, cv=2).fit(features, numbers)
    assert search.best_params_["max_epochs"] in (1, 2)
    assert list(search.best_estimator_.classes_) == [-1, 1, 10]  # numbers by value
    assert set(search.predict(features)) <= {-1, 1, 10}


def test_joblib_round_trip(
    fitted: AutoMLClassifier, frame: tuple[pd.DataFrame, pd.Series], tmp_path
) -> None:
    features, _ = frame
    joblib.dump(fitted, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_allclose(loaded.predict_proba(features), fitted.predict_proba(features))
    assert list(loaded.classes_) == list(fitted.classes_)


@pytest.mark.slow
@parametrize_with_checks([tiny()], expected_failed_checks=lambda estimator: EXPECTED_FAILED)
def test_scikit_learn_estimator_checks(estimator: AutoMLClassifier, check) -> None:
    check(estimator)
