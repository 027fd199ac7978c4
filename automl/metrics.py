"""Scoring class probabilities: the recipe's metric, the two every leaderboard shows, and the
full report of ``automl evaluate``."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

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


def _average_precision(y: np.ndarray, proba: np.ndarray) -> float:
    """The area under the precision-recall curve: of the second class with two classes, else
    the mean over classes, each against the rest."""
    if proba.shape[1] == 2:
        return float(skm.average_precision_score(y, proba[:, 1]))
    positives = label_binarize(y, classes=np.arange(proba.shape[1]))
    return float(skm.average_precision_score(positives, proba, average="macro"))


SCORERS: dict[str, _Scorer] = {
    "log_loss": _log_loss,
    "accuracy": lambda y, p: float(skm.accuracy_score(y, p.argmax(axis=1))),
    "balanced_accuracy": lambda y, p: float(skm.balanced_accuracy_score(y, p.argmax(axis=1))),
    "f1_macro": lambda y, p: float(skm.f1_score(y, p.argmax(axis=1), average="macro")),
    "roc_auc": _roc_auc,
    "average_precision": _average_precision,
}


def direction(metric: str) -> Literal["minimize", "maximize"]:
    """``"minimize"`` for losses, ``"maximize"`` for scores."""
    return "minimize" if metric == "log_loss" else "maximize"


def score_all(metric: str, y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """The recipe's metric plus log-loss and accuracy, by name."""
    return {
        name: SCORERS[name](y, proba) for name in dict.fromkeys((metric, "log_loss", "accuracy"))
    }


COUNTED_METRICS = ("log_loss", "accuracy", "balanced_accuracy", "f1_macro")


@dataclass(frozen=True)
class ScoreCounts:
    """What stands for a model's predictions on rows that stay where they are stored: the
    confusion matrix (a row per true class, a column per predicted class) and the summed
    log-loss of the true classes' probabilities (each clipped to ``[eps, 1]``, as
    :func:`sklearn.metrics.log_loss` clips float64 probabilities).

    Counts from several places add up (``a + b``).
    """

    confusion: np.ndarray
    loss_sum: float

    @property
    def rows(self) -> int:
        """The rows scored."""
        return int(self.confusion.sum())

    def __add__(self, other: ScoreCounts) -> ScoreCounts:
        return ScoreCounts(self.confusion + other.confusion, self.loss_sum + other.loss_sum)

    def scores(self, metric: str) -> dict[str, float]:
        """The recipe's metric plus log-loss and accuracy, by name, as :func:`score_all` gives
        them for the same predictions.

        Raises:
            ValueError: the metric needs every row's probabilities (``roc_auc``,
                ``average_precision``), or there are no rows.
        """
        if metric not in COUNTED_METRICS:
            raise ValueError(f"{metric} needs every row's probabilities, not counts")
        if not self.rows:
            raise ValueError("no rows were scored")
        return {name: self._score(name) for name in dict.fromkeys((metric, "log_loss", "accuracy"))}

    def _score(self, name: str) -> float:
        confusion = self.confusion.astype(np.float64)
        hits, actual, predicted = np.diag(confusion), confusion.sum(axis=1), confusion.sum(axis=0)
        if name == "log_loss":
            return self.loss_sum / self.rows
        if name == "accuracy":
            return float(hits.sum() / self.rows)
        present = actual > 0
        if name == "balanced_accuracy":  # the mean recall of the classes present
            return float(np.mean(hits[present] / actual[present]))
        seen = present | (predicted > 0)  # f1_macro: the classes true or predicted
        f1 = np.divide(2 * hits, actual + predicted, out=np.zeros_like(hits), where=seen)
        return float(np.mean(f1[seen]))


def score_report(y: np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> dict[str, Any]:
    """Every figure ``automl evaluate`` shows, as plain data (JSON-ready).

    ``y`` holds class codes (positions in ``classes``), ``proba`` one column per class. The keys:
    ``rows``, ``log_loss``, ``accuracy``, ``balanced_accuracy`` (the mean recall of the classes
    present in ``y``), ``roc_auc`` and ``average_precision`` (of the second class) with two
    classes only (``None`` when ``y`` holds one of them),
    and ``classes``: per class, its ``precision`` (0 for a class never predicted), ``recall`` (0
    for a class absent from ``y``) and ``support`` (its rows in ``y``).
    """
    codes = np.arange(proba.shape[1])
    predicted = proba.argmax(axis=1)
    precision, recall, _, support = skm.precision_recall_fscore_support(
        y, predicted, labels=codes, zero_division=0
    )
    with warnings.catch_warnings():  # a class predicted but absent from y: sklearn's own warning
        warnings.simplefilter("ignore", UserWarning)
        report: dict[str, Any] = {
            "rows": len(y),
            **{
                name: SCORERS[name](y, proba)
                for name in ("log_loss", "accuracy", "balanced_accuracy")
            },
        }
    if len(classes) == 2:
        both = len(np.unique(y)) == 2
        report["roc_auc"] = SCORERS["roc_auc"](y, proba) if both else None
        report["average_precision"] = SCORERS["average_precision"](y, proba) if both else None
    report["classes"] = [
        {"class": label, "precision": float(p), "recall": float(r), "support": int(n)}
        for label, p, r, n in zip(classes, precision, recall, support, strict=True)
    ]
    return report
