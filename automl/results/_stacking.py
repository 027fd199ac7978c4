"""Stacking: a multinomial logistic regression over the candidates' class log-probabilities.

Greedy selection (:func:`automl.results.select_ensemble`) gives each candidate one weight for
every class; a stacker learns, per class, how far to trust each candidate. It is fitted on the
candidates' out-of-fold predictions, so it never sees a prediction made by a model that trained
on the row.
Its own out-of-fold predictions come from refitting it on the search's folds, so the score the
leaderboard shows for it is not measured on the rows it was fitted on.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from automl.tuning import Folds

PROBABILITY_FLOOR = 1e-7


def stack_features(probas: Sequence[np.ndarray]) -> np.ndarray:
    """The stacker's input: each candidate's clipped class log-probabilities, side by side."""
    clipped = [np.clip(np.asarray(p, dtype=np.float64), PROBABILITY_FLOOR, 1.0) for p in probas]
    return np.log(np.hstack(clipped))


def new_stacker() -> Any:
    """An unfitted stacker: standardised log-probabilities into a multinomial logistic regression.

    On the Otto data ``C`` from 1 to 100 scored the same; less (0.1) scored worse.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))


def stacked_proba(stacker: Any, probas: Sequence[np.ndarray], n_classes: int) -> np.ndarray:
    """Class probabilities from the candidates' ``probas``; a class the stacker never saw gets 0."""
    return _proba(stacker, stack_features(probas), n_classes)


@dataclass(frozen=True)
class Stacking:
    """A stacker fitted on every row, its out-of-fold predictions and each candidate's share."""

    stacker: Any
    oof: np.ndarray
    shares: tuple[float, ...]


def fit_stacker(
    oofs: Sequence[np.ndarray],
    target: np.ndarray,
    folds: Folds,
    weights: np.ndarray | None = None,
) -> Stacking:
    """Fit a stacker on the candidates' out-of-fold predictions ``oofs`` (same row order), each
    row's loss weighted by ``weights`` when given (as the candidates trained).

    A candidate's share is the fraction of the stacker's absolute coefficients (on standardised
    inputs) that weigh its log-probabilities: how much the stacker listens to it.
    """
    features = stack_features(oofs)
    n_classes = oofs[0].shape[1]
    oof = np.zeros((len(target), n_classes))
    for train_rows, valid_rows in folds:
        fold_weights = None if weights is None else weights[train_rows]
        stacker = _fit(features[train_rows], target[train_rows], fold_weights)
        oof[valid_rows] = _proba(stacker, features[valid_rows], n_classes)
    stacker = _fit(features, target, weights)
    weight = np.abs(stacker[-1].coef_).sum(axis=0).reshape(len(oofs), n_classes).sum(axis=1)
    return Stacking(stacker, oof, tuple(float(w) for w in weight / weight.sum()))


def _proba(stacker: Any, features: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((len(features), n_classes))
    out[:, stacker.classes_] = stacker.predict_proba(features)
    return out


def _fit(features: np.ndarray, target: np.ndarray, weights: np.ndarray | None) -> Any:
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # not converged in 1,000 steps: still a usable stacker
        warnings.simplefilter("ignore", ConvergenceWarning)
        return new_stacker().fit(features, target, logisticregression__sample_weight=weights)
