"""The Keras training pieces every Keras backend shares, so a fold reads the same whoever trains it.

A backend that trains a fold builds its model with :func:`new_model`, hands the callbacks of
:func:`fold_callbacks` to its training loop (``model.fit``, or a loop of its own that calls
Keras callbacks), and turns the outcome into a :class:`~automl.training.FoldResult` with
:func:`fold_result`.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from automl.errors import TrialFailed
from automl.keras._network import build_model
from automl.spec import ModelSpec
from automl.training import EpochCallback, FoldData, FoldResult, TrainSettings

# Validation and prediction batches: large, as they only cost memory, not accuracy.
INFERENCE_BATCH = 4096
# Tracing a model's training step costs about as much as 150-300 eager steps of a small
# network, so a fit of at most this many steps (tiny data, few epochs) runs eagerly.
EAGER_STEPS = 100


_CUSTOM_GRADIENT = "CustomGradient-"
_fits_lock = threading.Lock()
_fits_running = 0
_registered_before: set[str] = set()


@contextlib.contextmanager
def releasing_traced_graphs() -> Iterator[None]:
    """Wrap a ``model.fit``: when the last fit running in this process ends, TensorFlow may free
    the graphs the fits traced.

    TensorFlow keeps a process-wide registry of gradient functions, and every custom gradient
    traced in graph mode adds one that is never removed (Keras' optimizer step traces one, in the
    distribution strategy's all-reduce). Each holds its whole traced training step, 2-4 MiB, so
    a long search grew by that much per fold. The entries added while fits ran are removed once
    none runs: their graphs are traced and differentiated already, and nothing looks them up
    again. Thread-safe: fits may run side by side (Spark tasks in one worker, driver threads).
    """
    global _fits_running, _registered_before
    registry = _gradient_registry()
    with _fits_lock:
        if _fits_running == 0:
            _registered_before = set(registry)
        _fits_running += 1
    try:
        yield
    finally:
        with _fits_lock:
            _fits_running -= 1
            if _fits_running == 0:
                released = [
                    registry.pop(name)
                    for name in list(registry)
                    if name.startswith(_CUSTOM_GRADIENT) and name not in _registered_before
                ]
                if released:  # an eager fit, or one of a model traced before, frees nothing
                    _return_free_heap()


def _return_free_heap() -> None:
    """Collect the released graphs and hand the C heap's free pages back to the system (glibc's
    ``malloc_trim``; elsewhere only the collection): freed memory otherwise stays in the
    process's resident size until something reuses it."""
    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (the one with ``malloc_trim``), else ``None``."""
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def _gradient_registry() -> dict[str, Any]:
    """TensorFlow's registry of gradient functions by name (empty when this TensorFlow has none
    where it is looked for: then nothing is released)."""
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else {}


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


def traced_predictor(model: Any) -> Any:
    """A function of a float32 matrix that returns the model's class probabilities (float64, rows
    sum to 1) through one traced graph: a call skips the per-call set-up of eager Keras and of
    ``model.predict``, which cost milliseconds. The first call of each batch size traces; warm it.
    """
    import tensorflow as tf

    width = int(model.inputs[0].shape[-1])
    forward = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec([None, width], tf.float32)],
    )

    def predict(x: np.ndarray) -> np.ndarray:
        proba = forward(tf.constant(x, dtype=tf.float32)).numpy().astype(np.float64)
        return proba / proba.sum(axis=1, keepdims=True)

    return predict


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
