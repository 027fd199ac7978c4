"""Greedy ensemble selection with replacement over out-of-fold predictions (Caruana et al. 2004).

Start from nothing; at each round add the candidate (again, if it is already in) whose addition
gives the best out-of-fold score of the averaged predictions. The weights are how often each
candidate was added, over the rounds up to the best score seen, so the ensemble never scores
worse out of fold than its best single candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from automl.metrics import SCORERS, direction

if TYPE_CHECKING:
    from automl.tuning import Folds


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
    scorer: Callable[[np.ndarray, np.ndarray], float]
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


def blend(oofs: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """The ``weights``' mean of ``oofs``, each row scaled to sum to 1 (predictions are stored as
    float32, so their rows sum to 1 only within 1e-7)."""
    mixed = sum(w * np.asarray(oof, dtype=np.float64) for w, oof in zip(weights, oofs, strict=True))
    mixed = np.asarray(mixed)
    return mixed / mixed.sum(axis=1, keepdims=True)


def selection_oof(
    oofs: Sequence[np.ndarray], target: np.ndarray, folds: Folds, metric: str, rounds: int
) -> np.ndarray:
    """Greedy selection's own out-of-fold predictions, measured as the stacker's are: on each
    fold, the weights chosen on its training rows blend its validation rows. Unlike the score of
    the weights chosen on every row, it does not reward the choice for fitting the rows it is
    scored on."""
    out = np.zeros(np.shape(oofs[0]), dtype=np.float64)
    for train_rows, valid_rows in folds:
        chosen = select_ensemble([o[train_rows] for o in oofs], target[train_rows], metric, rounds)
        out[valid_rows] = blend([o[valid_rows] for o in oofs], chosen.weights)
    return out


def _true_class_log_loss(target: np.ndarray, true_proba: np.ndarray) -> float:
    """Log-loss from each row's probability of its true class (clipped like scikit-learn's)."""
    eps = np.finfo(np.float64).eps
    return float(-np.mean(np.log(np.clip(true_proba, eps, 1.0))))
