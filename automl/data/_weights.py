"""Class weights: the recipe's ``training.class_weight`` as one weight per class code."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from automl._text import did_you_mean
from automl.data._dataset import Dataset, _list_columns
from automl.errors import UserError

_FIELD = "training.class_weight"


def class_weights(dataset: Dataset, class_weight: str | Mapping[str, float]) -> np.ndarray | None:
    """One weight per class code for ``dataset``'s training rows; ``None`` for ``none``.

    See :func:`class_weights_from_counts`.
    """
    counts = np.bincount(dataset.target, minlength=len(dataset.classes))
    return class_weights_from_counts(dataset.classes, counts, class_weight)


def class_weights_from_counts(
    classes: tuple, counts: np.ndarray, class_weight: str | Mapping[str, float]
) -> np.ndarray | None:
    """One weight per class code, for training rows that hold ``counts[c]`` rows of class
    ``classes[c]``; ``None`` for ``none``.

    ``balanced`` gives class ``c`` the weight ``rows / (classes * rows of c)``, as scikit-learn's
    ``compute_class_weight``; a mapping names classes by label (as text) and leaves the classes
    it does not name at 1.

    Raises:
        UserError: the mapping names a label that is not one of the classes.
    """
    n_classes = len(classes)
    if class_weight == "none":
        return None
    if class_weight == "balanced":
        return float(np.sum(counts)) / (n_classes * np.maximum(counts, 1))
    assert isinstance(class_weight, Mapping)  # the recipe allows nothing else
    codes = {str(label): code for code, label in enumerate(classes)}
    weights = np.ones(n_classes)
    for label, weight in class_weight.items():
        if label not in codes:
            raise UserError(
                f"{_FIELD}: '{label}' is not a class of the target{did_you_mean(label, codes)}; "
                f"classes: {_list_columns(pd.Index(list(codes)))}"
            )
        weights[codes[label]] = weight
    return weights


def check_row_weights(weights: np.ndarray, labels: np.ndarray, name: str) -> None:
    """Refuse row weights that cannot train: any that is not finite or below 0, all of them 0,
    or all of one class's 0. The message starts with ``name`` (the parameter that gave them).

    Raises:
        ValueError: in one line, what is wrong with the weights.
    """
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError(f"{name}: every weight must be a finite number >= 0")
    if not weights.any():
        raise ValueError(f"{name}: the weights are all zero; some row must weigh more")
    for label in pd.unique(labels):
        if not weights[labels == label].any():
            raise ValueError(
                f"{name}: every row of class {label!r} weighs zero; leave the class out instead"
            )
