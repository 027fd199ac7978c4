"""CatBoost and LightGBM models on disk in their libraries' own formats, never a pickle.

A CatBoost model is written in CatBoost's binary format (``.cbm``): the trees, their leaf values
and the class names. A LightGBM model is written in LightGBM's text format (``.lgbm``): the trees,
their split thresholds and leaf values, and the training parameters. Each library's C++ loader
reads its own; neither format can name a Python object, so loading one runs no code of the
file's. Each file must begin as its format does before its loader sees it. The optional packages
read them: a bundle holding one needs ``pip install 'automl[catboost]'`` or
``pip install 'automl[lightgbm]'``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from automl.errors import UserError

CATBOOST_SUFFIX = ".cbm"
LIGHTGBM_SUFFIX = ".lgbm"
_CATBOOST_MAGIC = b"CBM1"  # the first bytes of every model CatBoost writes in its binary format
_LIGHTGBM_MAGIC = b"tree\nversion="  # how every model LightGBM writes as text begins


class LightGBMModel:
    """A trained LightGBM booster with scikit-learn's ``predict_proba``: one column per class, in
    the order of the class codes it was trained on. Like a scikit-learn model, its ``n_jobs``
    parameter sets the threads it predicts on (``None``: LightGBM's default, every core)."""

    def __init__(self, booster: Any, n_jobs: int | None = None) -> None:
        self.booster = booster
        self.n_jobs = n_jobs

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The parameters :meth:`set_params` takes."""
        return {"n_jobs": self.n_jobs}

    def set_params(self, **params: Any) -> LightGBMModel:
        """Set ``n_jobs``, the threads to predict on."""
        self.n_jobs = params.pop("n_jobs", self.n_jobs)
        if params:
            raise ValueError(f"LightGBMModel has no parameter {sorted(params)[0]!r}")
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Each row's class probabilities (by the best iteration, when it stopped early)."""
        threads = {} if self.n_jobs is None else {"num_threads": self.n_jobs}
        proba = np.asarray(self.booster.predict(x, **threads), dtype=np.float64)
        if proba.ndim == 1:  # a binary booster gives the second class's probability
            return np.column_stack([1.0 - proba, proba])
        return proba


def is_catboost(model: Any) -> bool:
    """Whether ``model`` is one of CatBoost's estimators."""
    return type(model).__module__.split(".")[0] == "catboost"


def is_lightgbm(model: Any) -> bool:
    """Whether ``model`` is a :class:`LightGBMModel`."""
    return isinstance(model, LightGBMModel)


def save_catboost(model: Any, path: Path) -> None:
    """Write a fitted CatBoost classifier in CatBoost's binary format."""
    model.save_model(str(path), format="cbm")


def save_lightgbm(model: LightGBMModel, path: Path) -> None:
    """Write a trained model's booster (up to its best iteration) in LightGBM's text format."""
    model.booster.save_model(str(path))


def check_catboost_file(path: Path) -> None:
    """A :class:`UserError` unless ``path`` starts as a CatBoost binary model does."""
    _check_start(path, _CATBOOST_MAGIC, "CatBoost", f"no {_CATBOOST_MAGIC.decode()} header")


def check_lightgbm_file(path: Path) -> None:
    """A :class:`UserError` unless ``path`` starts as a LightGBM text model does."""
    _check_start(path, _LIGHTGBM_MAGIC, "LightGBM", "no LightGBM text header")


def load_catboost(path: Path) -> Any:
    """Load a file :func:`save_catboost` wrote, after :func:`check_catboost_file` passed it."""
    check_catboost_file(path)
    catboost = _library(path, "catboost", "CatBoost")
    try:
        return catboost.CatBoostClassifier().load_model(str(path), format="cbm")
    except catboost.CatBoostError as exc:
        raise UserError(f"{path}: damaged CatBoost model ({exc})") from None


def load_lightgbm(path: Path) -> LightGBMModel:
    """Load a file :func:`save_lightgbm` wrote, after :func:`check_lightgbm_file` passed it."""
    check_lightgbm_file(path)
    lightgbm = _library(path, "lightgbm", "LightGBM")
    try:
        return LightGBMModel(lightgbm.Booster(model_file=str(path)))
    except lightgbm.basic.LightGBMError as exc:
        raise UserError(f"{path}: damaged LightGBM model ({exc})") from None


def _check_start(path: Path, magic: bytes, library: str, missing: str) -> None:
    """A :class:`UserError` unless ``path`` begins with ``magic``."""
    try:
        with open(path, "rb") as file:
            head = file.read(len(magic))
    except OSError as exc:
        raise UserError(f"{path}: cannot read the {library} model ({exc.strerror})") from None
    if head != magic:
        raise UserError(f"{path}: not a {library} model automl wrote ({missing})")


def _library(path: Path, package: str, library: str) -> ModuleType:
    """The optional ``package``, or a :class:`UserError` saying how to install it."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise UserError(
            f"{path}: a {library} model needs the {package} package: "
            f"pip install 'automl[{package}]'"
        ) from None
