"""Permutation feature importance of a model bundle: how much the log-loss grows when one
feature column is shuffled, measured by :func:`sklearn.inspection.permutation_importance`."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.inspection import permutation_importance
from sklearn.metrics import log_loss

if TYPE_CHECKING:
    from automl.results._bundle import ModelBundle

REPEATS = 5
MAX_ROWS = 2000  # rows scored per shuffle: a larger table gives a random subset of this many


def feature_importance(
    bundle: ModelBundle,
    features: pd.DataFrame,
    codes: np.ndarray,
    *,
    repeats: int = REPEATS,
    seed: int = 0,
    max_rows: int = MAX_ROWS,
    seconds: float | None = None,
) -> dict[str, Any]:
    """The permutation importance of each of the bundle's features on labelled rows.

    ``features`` holds the bundle's feature columns, ``codes`` each row's class code (its
    position in ``bundle.classes``). Each column is shuffled ``repeats`` times (seeded by
    ``seed``); a feature's importance is the mean rise of the log-loss above its value on the
    unshuffled rows, with its standard deviation over the repeats. Beyond ``max_rows`` rows a
    seeded random subset of that many is scored, which bounds the cost at ``columns x repeats``
    predictions of at most ``max_rows`` rows. With ``seconds``, fewer repeats are made where
    ``repeats`` would take longer (timed on one prediction of the rows).

    Raises:
        TimeoutError: not even one shuffle of each column fits in ``seconds``.

    Returns plain data (JSON as it is): ``{"metric": "log_loss", "rows", "repeats", "seed",
    "features": [{"feature", "importance", "std"}, ...]}``, the most important feature first.
    """
    rng = np.random.default_rng(seed)
    if len(features) > max_rows:
        keep = np.sort(rng.choice(len(features), size=max_rows, replace=False))
        features, codes = features.iloc[keep], codes[keep]
    labels = list(range(len(bundle.classes)))
    if seconds is not None:
        repeats = _repeats_within(bundle, features, repeats, seconds)

    def minus_log_loss(model: Any, x: pd.DataFrame, y: np.ndarray) -> float:
        return -float(log_loss(y, model.predict_proba(x), labels=labels))

    found = permutation_importance(
        FrozenEstimator(bundle),  # the bundle is fitted: scikit-learn needs only its fit method
        features.reset_index(drop=True),
        np.asarray(codes),
        scoring=minus_log_loss,
        n_repeats=repeats,
        random_state=seed,
    )
    measured = sorted(
        zip(
            (-float(mean) for mean in found.importances_mean),
            (str(name) for name in features.columns),
            (float(std) for std in found.importances_std),
            strict=True,
        )
    )
    return {
        "metric": "log_loss",
        "rows": len(features),
        "repeats": repeats,
        "seed": seed,
        "features": [
            {"feature": name, "importance": -minus, "std": std} for minus, name, std in measured
        ],
    }


def _repeats_within(
    bundle: ModelBundle, features: pd.DataFrame, repeats: int, seconds: float
) -> int:
    """The repeats (at most ``repeats``) whose predictions fit in ``seconds``, timed on one."""
    if seconds <= 0:
        raise TimeoutError("the time budget (search.timeout) is spent")
    started = time.perf_counter()
    bundle.predict_proba(features)
    one_shuffle_each = (time.perf_counter() - started) * features.shape[1]
    fitting = min(repeats, math.floor(seconds / one_shuffle_each))
    if fitting < 1:
        raise TimeoutError(
            f"one shuffle of each feature takes about {one_shuffle_each:.0f}s, and "
            f"{max(0.0, seconds):.0f}s of the time budget (search.timeout) is left"
        )
    return fitting
