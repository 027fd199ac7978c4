"""A check of a ``.keras`` file before Keras opens it: only the layers, activations and
initializers that automl builds (:func:`automl.keras.build_model`) may appear.

Keras safe mode refuses ``Lambda`` layers, but it has been bypassed several times through other
classes a config may name (CVE-2025-1550, CVE-2025-9906, CVE-2026-1462). This check is a second
line: it reads ``config.json`` as plain JSON, without TensorFlow, and refuses any class, module or
activation outside the short list below, and any file in the archive other than Keras' own three.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from automl.errors import UserError
from automl.recipe import ACTIVATIONS

_ARCHIVE_FILES = frozenset({"config.json", "metadata.json", "model.weights.h5"})
# (module, class) of every object a config of automl's networks names, compile settings included.
_TRUSTED_CLASSES = frozenset(
    {
        ("keras.src.models.functional", "Functional"),
        ("keras", "DTypePolicy"),
        ("keras", "FloatDTypePolicy"),
        *(
            ("keras.layers", name)
            for name in ("InputLayer", "Dense", "BatchNormalization", "Activation", "Dropout")
        ),
        *(
            ("keras.initializers", name)
            for name in (
                "Zeros",
                "Ones",
                "GlorotUniform",
                "GlorotNormal",
                "HeUniform",
                "HeNormal",
                "LecunUniform",
                "LecunNormal",
                "RandomUniform",
                "RandomNormal",
                "TruncatedNormal",
                "Orthogonal",
                "OrthogonalInitializer",
            )
        ),
        *(
            ("keras.optimizers", name)
            for name in ("SGD", "Adam", "AdamW", "RMSprop", "Nadam", "Adamax")
        ),
    }
)
_KERAS_TENSOR = "__keras_tensor__"  # a reference between layers, not an object
_TRUSTED_ACTIVATIONS = frozenset({*ACTIVATIONS, "silu", "linear", "softmax"})  # swish is silu


def check_keras_file(path: Path) -> None:
    """Refuse ``path`` in one line unless its config holds only what automl builds."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: not a Keras file written by automl ({exc})") from None
    extra = sorted(names - _ARCHIVE_FILES)
    if extra:
        raise UserError(f"{path}: refusing a Keras file holding '{extra[0]}'")
    for problem in _problems(config):
        raise UserError(f"{path}: refusing to load {problem}: not one automl builds")


def _problems(node: Any) -> Iterator[str]:
    """What in a Keras config is not on the trusted lists, outermost first."""
    if isinstance(node, list):
        for value in node:
            yield from _problems(value)
        return
    if not isinstance(node, dict):
        return
    if "class_name" in node and node["class_name"] != _KERAS_TENSOR:
        module, name = node.get("module"), node["class_name"]
        if (module, name) not in _TRUSTED_CLASSES:
            yield f"class '{name}' from module '{module}'"
        registered = node.get("registered_name")
        if registered not in (None, name):
            yield f"registered name '{registered}'"
    activation = node.get("activation")
    if isinstance(activation, str) and activation not in _TRUSTED_ACTIVATIONS:
        yield f"activation '{activation}'"
    for value in node.values():
        yield from _problems(value)
