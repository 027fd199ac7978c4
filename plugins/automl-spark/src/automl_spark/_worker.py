"""What runs inside Spark's Python workers: TensorFlow once per worker, one model kept per spec.

Spark reuses its Python workers between tasks, so the module state here lives as long as the
worker: TensorFlow is imported (and its thread pools sized) once, and the last model built is
kept for the next round of the same fold instead of being built again.
"""

from __future__ import annotations

import os
from typing import Any

from automl.space import ModelSpec

_threads: int | None = None
_model_key: tuple[str, int, int, bool] | None = None
_model: Any = None


def keras_with_threads(threads: int) -> Any:
    """Import TensorFlow once per worker with ``threads`` intra-op threads; return keras."""
    global _threads
    if _threads is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        _threads = threads
    import keras

    return keras


def model_for(spec: ModelSpec, n_features: int, n_classes: int, eager: bool, threads: int) -> Any:
    """A compiled model for ``spec``: the worker's previous one when the spec is the same."""
    global _model_key, _model
    keras_with_threads(threads)
    key = (spec.to_json(), n_features, n_classes, eager)
    if key != _model_key:
        from automl.network import build_model

        _model = build_model(spec, n_features, n_classes)
        _model.run_eagerly = eager
        _model_key = key
    return _model
