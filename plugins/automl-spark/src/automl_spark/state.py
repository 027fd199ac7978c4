"""A model's training state as one flat float32 vector: the weights and the optimizer's slots.

This is what crosses between the driver and Spark's workers: raw float32 numbers in a fixed
order, never a pickled Keras model. The optimizer's step counter travels apart, as an integer.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def state_variables(model: Any) -> list[Any]:
    """The model's weights, then the optimizer's float slots (momenta, moments), in a fixed order.

    The optimizer is built first if it is not yet; its step counter is left out (it travels as
    an integer). The learning rate travels with the state, so a schedule the driver applies
    between rounds (``lr_schedule: plateau``) reaches the workers.
    """
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    slots = [v for v in optimizer.variables if v is not optimizer.iterations]
    return [*model.weights, *slots]


def get_state(model: Any) -> np.ndarray:
    """The model's training state as one float32 vector."""
    import keras

    parts = [keras.ops.convert_to_numpy(v).ravel() for v in state_variables(model)]
    return np.concatenate(parts).astype(np.float32, copy=False)


def set_state(model: Any, vector: np.ndarray) -> None:
    """Load a vector made by :func:`get_state` of a model with the same architecture.

    Raises:
        ValueError: the vector's length does not fit the model.
    """
    variables = state_variables(model)
    sizes = [int(np.prod(v.shape)) for v in variables]
    if vector.shape != (sum(sizes),):
        raise ValueError(f"a state of {vector.shape} does not fit a model of {sum(sizes)} numbers")
    offset = 0
    for variable, size in zip(variables, sizes, strict=True):
        variable.assign(vector[offset : offset + size].reshape(variable.shape))
        offset += size
