"""The driver's epoch loop shared by the Spark backends: train an epoch, run callbacks.

A backend supplies how one epoch is trained (it leaves the epoch's weights in the driver's
model and returns Keras-style logs, with the validation scores its tasks computed where the
rows are); the loop runs the local backend's own Keras callbacks on them (early stopping with
restored best weights, the NaN stop, the epoch report) and returns the history, so a Spark fold
result reads like a local one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from automl.keras import raise_on_nan

# Trains one epoch (0-based) into the driver's model; returns its logs (``loss``, ``accuracy``,
# and ``val_loss``, ``val_accuracy`` when the fold has validation rows).
EpochTrainer = Callable[[int], dict[str, float]]


def run_epochs(
    model: Any,
    epochs: int,
    train_epoch: EpochTrainer,
    callbacks: list[Any],
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
        for key, value in logs.items():
            history.setdefault(key, []).append(float(value))
        hooks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    hooks.on_train_end()
    raise_on_nan(history)
    return history
