"""What runs inside Spark's Python workers: TensorFlow once per worker, one model kept per spec.

Spark reuses its Python workers between tasks, so the module state here lives as long as the
worker: TensorFlow is imported (and its thread pools sized) once, and the last model built is
kept for the next round of the same fold instead of being built again.
"""

from __future__ import annotations

from typing import Any

from automl.keras import prepare_tensorflow
from automl.spec import ModelSpec

_model_key: tuple[str, int, int, bool] | None = None
_model: Any = None


def keras_with_threads(threads: int) -> Any:
    """Import TensorFlow once per worker with ``threads`` intra-op threads; return keras."""
    prepare_tensorflow(threads)
    import keras

    return keras


def model_for(spec: ModelSpec, n_features: int, n_classes: int, eager: bool, threads: int) -> Any:
    """A compiled model for ``spec``: the worker's previous one when the spec is the same."""
    global _model_key, _model
    keras_with_threads(threads)
    key = (spec.to_json(), n_features, n_classes, eager)
    if key != _model_key:
        from automl.keras import build_model

        _model = build_model(spec, n_features, n_classes)
        _model.run_eagerly = eager
        _model_key = key
    return _model
