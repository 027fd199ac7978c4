"""The driver's epoch loop shared by the Spark backends: train an epoch, score, run callbacks.

A backend supplies how one epoch is trained (it leaves the epoch's weights in the driver's
model and returns Keras-style logs, with the validation scores when its tasks computed them);
the loop adds the validation logs the driver computes otherwise, runs the local backend's own
Keras callbacks on them (early stopping with restored best weights, the NaN stop, the epoch
report) and returns the history, so a Spark fold result reads like a local one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from automl.keras import predict_proba, raise_on_nan

_EPSILON = 1e-7  # Keras' clipping of probabilities in its cross-entropy

# Trains one epoch (0-based) into the driver's model; returns its logs (``loss``, ``accuracy``,
# and ``val_loss``, ``val_accuracy`` when it scored the validation rows itself).
EpochTrainer = Callable[[int], dict[str, float]]


def run_epochs(
    model: Any,
    epochs: int,
    train_epoch: EpochTrainer,
    callbacks: list[Any],
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, list[float]]:
    """Run up to ``epochs`` epochs, stopping when a callback sets ``model.stop_training``.

    Raises:
        automl.errors.TrialFailed: the training loss became NaN.
    """
    import keras

    hooks = keras.callbacks.CallbackList(callbacks, model=model)
    history: dict[str, list[float]] = {}
    hooks.on_train_begin()
    for epoch in range(epochs):
        logs = train_epoch(epoch)
        if validation is not None:
            logs |= validation_logs(model, *validation)
        for key, value in logs.items():
            history.setdefault(key, []).append(float(value))
        hooks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    hooks.on_train_end()
    raise_on_nan(history)
    return history


def validation_logs(model: Any, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Keras' ``val_loss`` (sparse cross-entropy) and ``val_accuracy`` of ``model`` on (x, y)."""
    proba = predict_proba(model, x)
    picked = np.clip(proba[np.arange(len(y)), y], _EPSILON, 1 - _EPSILON)
    return {
        "val_accuracy": float(np.mean(proba.argmax(axis=1) == y)),
        "val_loss": float(-np.mean(np.log(picked))),
    }
