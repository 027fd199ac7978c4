"""scikit-learn objects on disk as skops files, loaded only when every type they hold is one automl
writes itself.

A skops file is a zip of NumPy arrays and a ``schema.json`` that names the class of every object
in it. Before skops reads a file, :func:`check_sklearn_file` lists those classes and refuses one
that is not in :data:`TRUSTED_TYPES`; skops is then told to trust exactly the listed ones, so a
type hidden from the listing still stops skops. The list lives here, never in the file.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from automl.errors import UserError

SKOPS_SUFFIX = ".skops"

# The types of the preprocessors, references and stacker automl fits (automl.data,
# automl.results), under the module paths of the scikit-learn releases it supports (1.6 names
# its Cython losses' module `_loss` and keeps a `_RemainderColsList`).
TRUSTED_TYPES = frozenset(
    {
        "_loss.CyHalfBinomialLoss",
        "_loss.CyHalfMultinomialLoss",
        "automl.data._preprocess._as_float32",
        "automl.data._preprocess.signed_log1p",
        "automl.data._preprocess.signed_sqrt",
        "builtins.bool",
        "builtins.dict",
        "builtins.float",
        "builtins.int",
        "builtins.list",
        "builtins.NoneType",
        "builtins.slice",
        "builtins.str",
        "builtins.tuple",
        "numpy.bool_",
        "numpy.dtype",
        "numpy.float32",
        "numpy.float64",
        "numpy.int32",
        "numpy.int64",
        "numpy.ndarray",
        "numpy.random._generator.Generator",
        "numpy.random.mtrand.RandomState",
        "numpy.uint8",
        "numpy.uint32",
        "numpy.uint64",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss._loss.CyHalfMultinomialLoss",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.compose._column_transformer._RemainderColsList",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.impute._base.SimpleImputer",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.QuantileTransformer",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._encoders.OneHotEncoder",
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "sklearn.preprocessing._label.LabelEncoder",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.tree._tree.Tree",
    }
)


def save_sklearn(model: Any, path: Path) -> None:
    """Write a scikit-learn object as a compressed skops file (a forest shrinks about six
    times)."""
    import skops.io

    skops.io.dump(model, path, compression=zipfile.ZIP_DEFLATED, compresslevel=1)


def check_sklearn_file(path: Path) -> list[str]:
    """The types ``path`` holds, all trusted; a :class:`UserError` naming the first other one."""
    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: not a skops file written by automl ({exc})") from None
    found = sorted(set(_types(schema)))
    refused = [name for name in found if name not in TRUSTED_TYPES]
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise UserError(f"{path}: refusing to load type {refused[0]}{more}: not one automl writes")
    return found


def load_sklearn(path: Path) -> Any:
    """Load a file :func:`save_sklearn` wrote, after :func:`check_sklearn_file` passed it."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    trusted = check_sklearn_file(path)
    try:
        return skops.io.load(path, trusted=trusted)
    except UntrustedTypesFoundException as exc:
        raise UserError(f"{path}: refusing to load: {exc}") from None


def _types(node: Any) -> Iterator[str]:
    """Every ``module.class`` a skops schema names, at any depth."""
    if isinstance(node, dict):
        if "__class__" in node:
            yield f"{node.get('__module__')}.{node['__class__']}"
        for value in node.values():
            yield from _types(value)
    elif isinstance(node, list):
        for value in node:
            yield from _types(value)
