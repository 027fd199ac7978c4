"""The Keras training pieces every Keras backend shares, so a fold reads the same whoever trains it.

A backend that trains a fold builds its model with :func:`new_model`, hands the callbacks of
:func:`fold_callbacks` to its training loop (``model.fit``, or a loop of its own that calls
Keras callbacks), and turns the outcome into a :class:`~automl.backends.FoldResult` with
:func:`fold_result`.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from automl.backends._base import EpochCallback, FoldData, FoldResult, TrainSettings
from automl.errors import TrialFailed
from automl.network import build_model
from automl.space import ModelSpec

# Validation and prediction batches: large, as they only cost memory, not accuracy.
INFERENCE_BATCH = 4096
# Tracing a model's training step costs about as much as 150-300 eager steps of a small
# network, so a fit of at most this many steps (tiny data, few epochs) runs eagerly.
EAGER_STEPS = 100


def runs_eagerly(rows: int, batch_size: int, epochs: int) -> bool:
    """Whether a fit of ``rows`` rows for ``epochs`` epochs is small enough to run eagerly."""
    return math.ceil(rows / batch_size) * epochs <= EAGER_STEPS


def new_model(
    spec: ModelSpec,
    shape: tuple[int, ...],
    n_classes: int,
    seed: int,
    epochs: int,
    jit_compile: bool = False,
) -> Any:
    """A compiled model for training rows of ``shape`` for ``epochs`` epochs, seeded."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_model(spec, shape[1], n_classes)
    model.jit_compile = jit_compile
    model.run_eagerly = runs_eagerly(shape[0], spec.batch_size, epochs)
    return model


def fold_callbacks(
    model: Any, spec: ModelSpec, settings: TrainSettings, on_epoch: EpochCallback | None
) -> tuple[Any, list[Any]]:
    """The early-stopping callback, and every callback of a fold's training, in order:
    early stopping, the NaN stop, the spec's learning-rate schedule, the epoch report."""
    import keras

    stopper = keras.callbacks.EarlyStopping(
        monitor=settings.monitor,
        patience=settings.patience,
        min_delta=settings.min_delta,
        restore_best_weights=settings.restore_best_weights,
        mode=_mode(settings),
    )
    return stopper, [
        stopper,
        stop_on_nan(model),
        *_schedule(spec, settings),
        *_report_epochs(on_epoch),
    ]


def fold_result(
    model: Any,
    stopper: Any,
    history: dict[str, list[float]],
    data: FoldData,
    settings: TrainSettings,
    started: float,
) -> FoldResult:
    """Score the kept weights on the fold's validation rows.

    Raises:
        automl.errors.TrialFailed: the loss became NaN, or the model predicts NaN.
    """
    raise_on_nan(history)
    epochs_run = len(history["loss"])
    best_epoch = stopper.best_epoch + 1 if settings.restore_best_weights else epochs_run
    proba = predict_proba(model, data.x_valid)
    if not np.isfinite(proba).all():
        raise TrialFailed("the model predicts NaN probabilities")
    return FoldResult(
        history=history,
        best_epoch=best_epoch,
        epochs_run=epochs_run,
        seconds=time.perf_counter() - started,
        valid_proba=proba,
        n_params=model.count_params(),
        model=model,
    )


def predict_proba(model: Any, x: np.ndarray) -> np.ndarray:
    """Class probabilities (float64, rows sum to 1) by eager calls in large batches."""
    import keras

    chunks = [
        keras.ops.convert_to_numpy(model(x[start : start + INFERENCE_BATCH], training=False))
        for start in range(0, len(x), INFERENCE_BATCH)
    ]
    proba = np.concatenate(chunks).astype(np.float64)
    return proba / proba.sum(axis=1, keepdims=True)


def stop_on_nan(model: Any) -> Any:
    """Stop training after an epoch whose loss is not finite.

    Checked per epoch, not per batch like ``keras.callbacks.TerminateOnNaN``: a batch-level hook
    makes Keras wait for every step's logs, which costs several percent on small batches.
    """
    import keras

    def check(epoch: int, logs: dict | None) -> None:
        if not math.isfinite(float((logs or {}).get("loss", 0.0))):
            model.stop_training = True

    return keras.callbacks.LambdaCallback(on_epoch_end=check)


def raise_on_nan(history: dict[str, list[float]]) -> None:
    """Fail the trial when the training loss of some epoch was not finite."""
    losses = history.get("loss", [])
    if any(not math.isfinite(v) for v in losses):
        epoch = next(i for i, v in enumerate(losses) if not math.isfinite(v)) + 1
        raise TrialFailed(f"training loss became NaN at epoch {epoch}")


def _mode(settings: TrainSettings) -> str:
    return "min" if settings.monitor.endswith("loss") else "max"


def _schedule(spec: ModelSpec, settings: TrainSettings) -> list[Any]:
    """``plateau``: divide the learning rate by 4 when the monitored value stops improving for
    about half the early-stopping patience (at least one epoch)."""
    if spec.lr_schedule != "plateau":
        return []
    import keras

    return [
        keras.callbacks.ReduceLROnPlateau(
            monitor=settings.monitor,
            mode=_mode(settings),
            factor=0.25,
            patience=max(1, settings.patience // 2),
            min_delta=settings.min_delta,
        )
    ]


def _report_epochs(on_epoch: EpochCallback | None) -> list[Any]:
    """A Keras callback that hands each epoch's logs to ``on_epoch`` (1-based epochs)."""
    if on_epoch is None:
        return []
    import keras

    def report(epoch: int, logs: dict | None) -> None:
        on_epoch(epoch + 1, {k: float(v) for k, v in (logs or {}).items()})

    return [keras.callbacks.LambdaCallback(on_epoch_end=report)]
