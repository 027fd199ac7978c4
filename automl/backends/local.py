"""The built-in backend: ``model.fit`` in this process."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from automl.backends._base import Backend, EpochCallback, FoldData, FoldResult, TrainSettings
from automl.errors import TrialFailed
from automl.hookspecs import hookimpl
from automl.network import build_model
from automl.space import ModelSpec

if TYPE_CHECKING:
    from automl.workers import SearchJob, TrialPool

# Validation and prediction batches: large, as they only cost memory, not accuracy.
_INFERENCE_BATCH = 4096
# Tracing a model's training step costs about as much as 150-300 eager steps of a small
# network, so a fit of at most this many steps (tiny data, few epochs) runs eagerly.
_EAGER_STEPS = 100


class LocalBackend(Backend):
    """Train each fold with Keras ``model.fit`` in the current process.

    Args:
        jit_compile: compile the training step with XLA. Off by default: for the small networks
            of tabular data, compiling each trial's model costs more than it saves.
    """

    def __init__(self, jit_compile: bool = False) -> None:
        self.jit_compile = jit_compile

    def evaluate(
        self,
        spec: ModelSpec,
        data: FoldData,
        settings: TrainSettings,
        on_epoch: EpochCallback | None = None,
    ) -> FoldResult:
        """Train with early stopping and a NaN stop; score the kept weights on validation."""
        import keras

        started = time.perf_counter()
        model = self._build(
            spec, data.x_train.shape, data.n_classes, settings.seed, settings.max_epochs
        )
        stopper = keras.callbacks.EarlyStopping(
            monitor=settings.monitor,
            patience=settings.patience,
            min_delta=settings.min_delta,
            restore_best_weights=settings.restore_best_weights,
            mode="min" if settings.monitor.endswith("loss") else "max",
        )
        fitted = model.fit(
            data.x_train,
            data.y_train,
            validation_data=(data.x_valid, data.y_valid),
            batch_size=spec.batch_size,
            validation_batch_size=_INFERENCE_BATCH,
            epochs=settings.max_epochs,
            shuffle=True,
            callbacks=[
                stopper,
                _stop_on_nan(model),
                *_schedule(spec, settings),
                *_report_epochs(on_epoch),
            ],
            verbose=settings.verbose,
        )
        history = {key: [float(v) for v in values] for key, values in fitted.history.items()}
        _raise_on_nan(history)
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

    def fit(
        self,
        spec: ModelSpec,
        x: np.ndarray,
        y: np.ndarray,
        n_classes: int,
        settings: TrainSettings,
        epochs: int,
    ) -> Any:
        """Train on all rows for ``epochs`` epochs, without validation."""

        model = self._build(spec, x.shape, n_classes, settings.seed, epochs)
        fitted = model.fit(
            x,
            y,
            batch_size=spec.batch_size,
            epochs=epochs,
            shuffle=True,
            callbacks=[_stop_on_nan(model)],
            verbose=settings.verbose,
        )
        _raise_on_nan({"loss": fitted.history["loss"]})
        return model

    def trial_pool(self, workers: int, job: SearchJob) -> TrialPool:
        """``workers`` local processes, each training trials with this backend's settings and
        the machine's cores divided among them."""
        from automl.workers import ProcessPool

        return ProcessPool(workers, job, {"jit_compile": self.jit_compile})

    def _build(
        self, spec: ModelSpec, shape: tuple[int, ...], n_classes: int, seed: int, epochs: int
    ) -> Any:
        import keras

        keras.utils.set_random_seed(seed)
        model = build_model(spec, shape[1], n_classes)
        model.jit_compile = self.jit_compile
        steps = math.ceil(shape[0] / spec.batch_size) * epochs
        model.run_eagerly = steps <= _EAGER_STEPS
        return model


def predict_proba(model: Any, x: np.ndarray) -> np.ndarray:
    """Class probabilities (float64, rows sum to 1) by eager calls in large batches."""
    import keras

    chunks = [
        keras.ops.convert_to_numpy(model(x[start : start + _INFERENCE_BATCH], training=False))
        for start in range(0, len(x), _INFERENCE_BATCH)
    ]
    proba = np.concatenate(chunks).astype(np.float64)
    return proba / proba.sum(axis=1, keepdims=True)


def _stop_on_nan(model: Any) -> Any:
    """Stop training after an epoch whose loss is not finite.

    Checked per epoch, not per batch like ``keras.callbacks.TerminateOnNaN``: a batch-level hook
    makes Keras wait for every step's logs, which costs several percent on small batches.
    """
    import keras

    def check(epoch: int, logs: dict | None) -> None:
        if not math.isfinite(float((logs or {}).get("loss", 0.0))):
            model.stop_training = True

    return keras.callbacks.LambdaCallback(on_epoch_end=check)


def _schedule(spec: ModelSpec, settings: TrainSettings) -> list[Any]:
    """``plateau``: divide the learning rate by 4 when the monitored value stops improving for
    about half the early-stopping patience (at least one epoch)."""
    if spec.lr_schedule != "plateau":
        return []
    import keras

    return [
        keras.callbacks.ReduceLROnPlateau(
            monitor=settings.monitor,
            mode="min" if settings.monitor.endswith("loss") else "max",
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


def _raise_on_nan(history: dict[str, list[float]]) -> None:
    losses = history.get("loss", [])
    if any(not math.isfinite(v) for v in losses):
        epoch = next(i for i, v in enumerate(losses) if not math.isfinite(v)) + 1
        raise TrialFailed(f"training loss became NaN at epoch {epoch}")


@hookimpl
def register_backends(register: Any) -> None:
    """Register the local backend, the same way a third-party plugin would."""
    register("local", LocalBackend, description="Keras model.fit in this process")
