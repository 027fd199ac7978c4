"""CatBoost models on disk in CatBoost's own binary format (``.cbm``), never a pickle.

A ``.cbm`` file is the trees, their leaf values and the class names, read by CatBoost's C++
loader; it cannot name a Python object, so loading one runs no code of the file's. The optional
catboost package reads it: a bundle holding one needs ``pip install 'automl[catboost]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from automl.errors import UserError

CATBOOST_SUFFIX = ".cbm"
_MAGIC = b"CBM1"  # the first bytes of every model CatBoost writes in its binary format


def is_catboost(model: Any) -> bool:
    """Whether ``model`` is one of CatBoost's estimators."""
    return type(model).__module__.split(".")[0] == "catboost"


def save_catboost(model: Any, path: Path) -> None:
    """Write a fitted CatBoost classifier in CatBoost's binary format."""
    model.save_model(str(path), format="cbm")


def check_catboost_file(path: Path) -> None:
    """A :class:`UserError` unless ``path`` starts as a CatBoost binary model does."""
    try:
        with open(path, "rb") as file:
            head = file.read(len(_MAGIC))
    except OSError as exc:
        raise UserError(f"{path}: cannot read the CatBoost model ({exc.strerror})") from None
    if head != _MAGIC:
        raise UserError(f"{path}: not a CatBoost model automl wrote (no {_MAGIC.decode()} header)")


def load_catboost(path: Path) -> Any:
    """Load a file :func:`save_catboost` wrote, after :func:`check_catboost_file` passed it."""
    check_catboost_file(path)
    try:
        from catboost import CatBoostClassifier, CatBoostError
    except ImportError:
        raise UserError(
            f"{path}: a CatBoost model needs the catboost package: pip install 'automl[catboost]'"
        ) from None
    try:
        return CatBoostClassifier().load_model(str(path), format="cbm")
    except CatBoostError as exc:
        raise UserError(f"{path}: damaged CatBoost model ({exc})") from None
