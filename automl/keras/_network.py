"""Building a compiled Keras network from a ModelSpec: the only module that knows Keras layers."""

from __future__ import annotations

from typing import Any

from automl.spec import ModelSpec

_INITIALIZER_NAMES = {"uniform": "random_uniform", "normal": "random_normal"}


def build_model(spec: ModelSpec, n_features: int, n_classes: int) -> Any:
    """A compiled ``keras.Model``: dense blocks, then a softmax over ``n_classes``.

    Dropout on the inputs (optional), then blocks of Dense → BatchNormalization (optional) →
    activation → Dropout (optional).
    """
    import keras

    initializer = _INITIALIZER_NAMES.get(spec.initializer, spec.initializer)
    inputs = keras.Input(shape=(n_features,), name="features")
    x = keras.layers.Dropout(spec.input_dropout)(inputs) if spec.input_dropout > 0 else inputs
    for units in spec.hidden_units:
        x = keras.layers.Dense(units, kernel_initializer=initializer, use_bias=not spec.batch_norm)(
            x
        )
        if spec.batch_norm:
            x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation(spec.activation)(x)
        if spec.dropout > 0:
            x = keras.layers.Dropout(spec.dropout)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=make_optimizer(spec.optimizer, spec.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def make_optimizer(name: str, learning_rate: float) -> Any:
    """A Keras optimizer by recipe name; ``sgd`` means SGD with Nesterov momentum 0.9."""
    import keras

    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9, nesterov=True)
    return keras.optimizers.get({"class_name": name, "config": {"learning_rate": learning_rate}})
