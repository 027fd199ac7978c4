"""The Otto split every benchmark trains on, with NumPy, pandas and scikit-learn only (so that a
bench-only environment without automl, such as Elephas', reads the same arrays).

Stratified 80/20 split (random_state 0) of ``../shared/data/otto/train.csv.gz``, standardized on
the training part, float32 features and int64 class codes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/otto/train.csv.gz"

# training features and codes, validation features and codes, and the number of classes
Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]


def otto_split(path: Path) -> Split:
    """The split of the Otto table at ``path``."""
    frame = pd.read_csv(path)
    x = frame.filter(like="feat_").to_numpy(dtype=np.float64)
    classes, y = np.unique(frame["target"].to_numpy(), return_inverse=True)
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    scaler = StandardScaler().fit(x_tr)
    x_tr, x_va = (scaler.transform(a).astype(np.float32) for a in (x_tr, x_va))
    return x_tr, y_tr.astype(np.int64), x_va, y_va.astype(np.int64), len(classes)


def subsample_rows(rows: int, keep: int | None) -> np.ndarray:
    """The indices of the first ``keep`` of ``rows`` rows in a fixed shuffle (all if ``None``)."""
    if keep is None or keep >= rows:
        return np.arange(rows)
    return np.random.default_rng(0).permutation(rows)[:keep]
