"""Greedy ensemble selection with replacement over out-of-fold predictions (Caruana et al. 2004).

Start from nothing; at each round add the candidate (again, if it is already in) whose addition
gives the best out-of-fold score of the averaged predictions. The weights are how often each
candidate was added, over the rounds up to the best score seen, so the ensemble never scores
worse out of fold than its best single candidate.

Averaging models makes their probabilities less sure than they should be; :func:`fit_temperature`
finds the one power that recalibrates the blend's out-of-fold probabilities for log-loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from automl.metrics import SCORERS, direction


@dataclass(frozen=True)
class Selection:
    """The chosen weights (summing to 1, one per candidate, zeros for the unchosen) and scores."""

    weights: tuple[float, ...]
    score: float
    best_single: float
    rounds: int

    def chosen(self) -> list[int]:
        """Indices of the candidates with a weight above zero."""
        return [i for i, w in enumerate(self.weights) if w > 0]


def select_ensemble(
    oofs: Sequence[np.ndarray], target: np.ndarray, metric: str, rounds: int = 50
) -> Selection:
    """Choose weights for ``oofs`` (out-of-fold class probabilities, one matrix per candidate).

    Deterministic: ties go to the candidate listed first.
    """
    if not oofs:
        raise ValueError("ensemble selection needs at least one candidate")
    sign = 1.0 if direction(metric) == "minimize" else -1.0
    if metric == "log_loss":  # only each row's true-class probability matters: fast
        rows = np.arange(len(target))
        stacked = [np.asarray(oof, dtype=np.float64)[rows, target] for oof in oofs]
        scorer = _true_class_log_loss
    else:
        stacked = [np.asarray(oof, dtype=np.float64) for oof in oofs]
        scorer = SCORERS[metric]
    singles = [sign * scorer(target, oof) for oof in stacked]
    counts = np.zeros(len(stacked), dtype=np.int64)
    best_counts = counts.copy()
    total = np.zeros_like(stacked[0])
    best = np.inf
    for step in range(1, rounds + 1):
        trial_scores = [sign * scorer(target, (total + oof) / step) for oof in stacked]
        pick = int(np.argmin(trial_scores))
        counts[pick] += 1
        total += stacked[pick]
        if trial_scores[pick] < best:
            best, best_counts = trial_scores[pick], counts.copy()
    weights = best_counts / best_counts.sum()
    return Selection(
        weights=tuple(float(w) for w in weights),
        score=float(sign * best),
        best_single=float(sign * min(singles)),
        rounds=int(best_counts.sum()),
    )


def _true_class_log_loss(target: np.ndarray, true_proba: np.ndarray) -> float:
    """Log-loss from each row's probability of its true class (clipped like scikit-learn's)."""
    eps = np.finfo(np.float64).eps
    return float(-np.mean(np.log(np.clip(true_proba, eps, 1.0))))


def fit_temperature(proba: np.ndarray, target: np.ndarray) -> float:
    """The temperature ``t`` whose :func:`apply_temperature` gives ``proba`` the lowest log-loss.

    One number fitted on many rows, searched between 0.25 and 4; 1 (no change) unless another
    value scores better, so it never worsens the log-loss of ``proba``.
    """
    from scipy.optimize import minimize_scalar

    rows = np.arange(len(target))

    def loss(log_t: float) -> float:
        return _true_class_log_loss(target, apply_temperature(proba, np.exp(log_t))[rows, target])

    found = minimize_scalar(loss, bounds=(np.log(0.25), np.log(4.0)), method="bounded")
    return float(np.exp(found.x)) if found.fun < loss(0.0) else 1.0


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """``proba`` raised to ``1 / temperature`` and renormalised: below 1 sharpens, above softens.

    Each row's ranking of the classes, and so the predicted class, stays the same.
    """
    if temperature == 1.0:
        return proba
    logs = np.log(np.clip(np.asarray(proba, dtype=np.float64), np.finfo(np.float64).eps, 1.0))
    scaled = logs / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    powered = np.exp(scaled)
    return powered / powered.sum(axis=1, keepdims=True)
