"""Everything that knows Keras: the network builder, the fold kit every Keras backend shares, the
TensorFlow set-up of a process, and the built-in ``local`` backend.

A backend that trains a fold builds its model with :func:`new_model`, hands the callbacks of
:func:`fold_callbacks` to its training loop (``model.fit``, or a loop of its own that calls Keras
callbacks), and turns the outcome into a :class:`~automl.training.FoldResult` with
:func:`fold_result`.
"""

from automl.keras._fold import (
    INFERENCE_BATCH,
    fold_callbacks,
    fold_result,
    new_model,
    predict_proba,
    raise_on_nan,
    releasing_traced_graphs,
    runs_eagerly,
    stop_on_nan,
    traced_predictor,
)
from automl.keras._local import LocalBackend
from automl.keras._network import build_model, make_optimizer
from automl.keras._setup import prepare_tensorflow

__all__ = [
    "INFERENCE_BATCH",
    "LocalBackend",
    "build_model",
    "fold_callbacks",
    "fold_result",
    "make_optimizer",
    "new_model",
    "predict_proba",
    "prepare_tensorflow",
    "raise_on_nan",
    "releasing_traced_graphs",
    "runs_eagerly",
    "stop_on_nan",
    "traced_predictor",
]
