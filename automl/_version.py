"""The engine's version, and the versions of the libraries a model depends on."""

from __future__ import annotations

import platform
from importlib import metadata

__version__ = "0.1.0"

_VERSIONED = (
    "automl",
    "tensorflow",
    "keras",
    "optuna",
    "scikit-learn",
    "numpy",
    "pandas",
    "pyspark",
)


def library_versions() -> dict[str, str]:
    """Python and the versions of the libraries a model depends on."""
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
