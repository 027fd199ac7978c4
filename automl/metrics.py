"""Scoring class probabilities: the recipe's metric and the two every leaderboard shows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from sklearn import metrics as skm

_Scorer = Callable[[np.ndarray, np.ndarray], float]


def _log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    return float(skm.log_loss(y, proba, labels=np.arange(proba.shape[1])))


def _roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    if proba.shape[1] == 2:
        return float(skm.roc_auc_score(y, proba[:, 1]))
    return float(
        skm.roc_auc_score(
            y, proba, multi_class="ovr", average="macro", labels=np.arange(proba.shape[1])
        )
    )


SCORERS: dict[str, _Scorer] = {
    "log_loss": _log_loss,
    "accuracy": lambda y, p: float(skm.accuracy_score(y, p.argmax(axis=1))),
    "balanced_accuracy": lambda y, p: float(skm.balanced_accuracy_score(y, p.argmax(axis=1))),
    "f1_macro": lambda y, p: float(skm.f1_score(y, p.argmax(axis=1), average="macro")),
    "roc_auc": _roc_auc,
}


def direction(metric: str) -> Literal["minimize", "maximize"]:
    """``"minimize"`` for losses, ``"maximize"`` for scores."""
    return "minimize" if metric == "log_loss" else "maximize"


def score_all(metric: str, y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """The recipe's metric plus log-loss and accuracy, by name."""
    return {
        name: SCORERS[name](y, proba) for name in dict.fromkeys((metric, "log_loss", "accuracy"))
    }
