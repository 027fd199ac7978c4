"""The built-in backend: ``model.fit`` in this process."""

from __future__ import annotations

import gc
import time
from typing import Any, ClassVar

import numpy as np

from automl.keras._fold import (
    INFERENCE_BATCH,
    fold_callbacks,
    fold_result,
    new_model,
    raise_on_nan,
    releasing_traced_graphs,
    stop_on_nan,
)
from automl.keras._setup import prepare_tensorflow
from automl.spec import ModelSpec
from automl.training import Backend, EpochCallback, FoldData, FoldResult, TrainSettings


class LocalBackend(Backend):
    """Train each fold with Keras ``model.fit`` in the current process.

    Args:
        jit_compile: compile the training step with XLA. Off by default: for the small networks
            of tabular data, compiling each trial's model costs more than it saves.
    """

    process_safe: ClassVar[bool] = True

    def __init__(self, jit_compile: bool = False) -> None:
        self.jit_compile = jit_compile

    def configure_process(self, threads: int) -> None:
        """Import TensorFlow quietly with ``threads`` intra-op threads (see
        :func:`~automl.keras.prepare_tensorflow`), then leave what the worker holds so far out of
        the garbage collector's scans.

        Every fit ends with a full collection (:func:`~automl.keras.releasing_traced_graphs`),
        whose time grows with every object the process tracks: about 450,000 once TensorFlow and
        Keras are imported, none of which becomes garbage, so it took 0.25-0.4 s a fit (15-20% of
        a 2-second fit). Frozen after one collection (``gc.freeze``) they are no longer scanned;
        the models and graphs the fits make are collected as before.
        """
        prepare_tensorflow(threads)
        gc.collect()
        gc.freeze()

    def evaluate(
        self,
        spec: ModelSpec,
        data: FoldData,
        settings: TrainSettings,
        on_epoch: EpochCallback | None = None,
    ) -> FoldResult:
        """Train with early stopping and a NaN stop (rows weighted by ``data.w_train``); score the
        kept weights on validation, unweighted."""
        started = time.perf_counter()
        model = new_model(
            spec,
            data.x_train.shape,
            data.n_classes,
            settings.seed,
            settings.max_epochs,
            self.jit_compile,
        )
        stopper, callbacks = fold_callbacks(model, spec, settings, on_epoch)
        with releasing_traced_graphs():
            fitted = model.fit(
                data.x_train,
                data.y_train,
                sample_weight=data.w_train,
                validation_data=(data.x_valid, data.y_valid),
                batch_size=spec.batch_size,
                validation_batch_size=INFERENCE_BATCH,
                epochs=settings.max_epochs,
                shuffle=True,
                callbacks=callbacks,
                verbose=settings.verbose,
            )
        history = {key: [float(v) for v in values] for key, values in fitted.history.items()}
        return fold_result(model, stopper, history, data, settings, started)

    def fit(
        self,
        spec: ModelSpec,
        x: np.ndarray,
        y: np.ndarray,
        n_classes: int,
        settings: TrainSettings,
        epochs: int,
        sample_weight: np.ndarray | None = None,
    ) -> Any:
        """Train on all rows (weighted by ``sample_weight``) for ``epochs`` epochs, without
        validation."""
        model = new_model(spec, x.shape, n_classes, settings.seed, epochs, self.jit_compile)
        with releasing_traced_graphs():
            fitted = model.fit(
                x,
                y,
                sample_weight=sample_weight,
                batch_size=spec.batch_size,
                epochs=epochs,
                shuffle=True,
                callbacks=[stop_on_nan(model)],
                verbose=settings.verbose,
            )
        raise_on_nan({"loss": fitted.history["loss"]})
        return model
