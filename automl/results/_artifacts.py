"""What a complete trial leaves for the ensemble: out-of-fold predictions and its fold models.

Each trial gets a folder ``<key>/`` in the run folder's trials folder, written atomically::

    oof.npy                  float32 class probabilities of every search row, predicted by the
                             fold model that did not train on it
    fold_<k>.keras           the fold models (Keras), or for a reference fold_<k>.skops
                             (scikit-learn), fold_<k>.cbm (CatBoost) or fold_<k>.lgbm (LightGBM)
    preprocessor_<k>.skops   each fold's fitted preprocessor

Nothing here is a pickle: scikit-learn objects are skops files of trusted types
(:mod:`automl.results._sklearn_storage`), Keras files are checked before Keras opens them
(:mod:`automl.results._keras_check`), and CatBoost and LightGBM models are in their libraries' own
formats (:mod:`automl.results._booster_storage`), each checked by its header before its loader
reads it. A folder of an older layout holds no such files
and counts as empty, so its trial is trained again when needed.

The key is a hash of the trial's spec: training is seeded, so a trial run again (a resumed run)
writes the same folder again.

A worker of a parallel search trains its fold away from the driver; it hands back the fold's
model and preprocessor *packed* (:func:`pack_fold`): a zip of the same two files, which the
driver writes into the trial's folder unopened.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from automl._files import replace_folder
from automl.results._booster_storage import (
    CATBOOST_SUFFIX,
    LIGHTGBM_SUFFIX,
    check_catboost_file,
    check_lightgbm_file,
    is_catboost,
    is_lightgbm,
    load_catboost,
    load_lightgbm,
    save_catboost,
    save_lightgbm,
)
from automl.results._keras_check import check_keras_file
from automl.results._sklearn_storage import (
    SKOPS_SUFFIX,
    check_sklearn_file,
    load_sklearn,
    save_sklearn,
)
from automl.spec import ModelSpec
from automl.tuning import Evaluation, Folds

OOF_FILE = "oof.npy"
_KERAS_SUFFIX = ".keras"


def artifact_key(spec_json: str) -> str:
    """The folder name of a spec's artifacts."""
    return hashlib.sha256(spec_json.encode("utf-8")).hexdigest()[:16]


def out_of_fold(
    probas: Sequence[np.ndarray], folds: Sequence[tuple[np.ndarray, np.ndarray]], rows: int
) -> np.ndarray:
    """One matrix of every search row's prediction by the fold model that did not see it."""
    matrix = np.zeros((rows, probas[0].shape[1]), dtype=np.float32)
    for proba, (_, valid_rows) in zip(probas, folds, strict=True):
        matrix[valid_rows] = proba
    return matrix


def save_fold_models(
    folder: Path, oof: np.ndarray, models: Iterable[tuple[Any, Any] | bytes]
) -> None:
    """Write ``oof`` and each fold's (model, preprocessor) pair, or its :func:`pack_fold`
    bytes, to ``folder`` atomically."""

    def fill(staging: Path) -> None:
        with open(staging / OOF_FILE, "wb") as handle:
            np.save(handle, oof.astype(np.float32))
        for index, fold in enumerate(models, start=1):
            if isinstance(fold, bytes):
                _unpack_fold(fold, staging, index)
            else:
                model, preprocessor = fold
                save_model(model, staging / f"fold_{index}")
                save_sklearn(preprocessor, _preprocessor_path(staging, index))

    replace_folder(folder, fill)


@dataclass(frozen=True)
class _ModelFormat:
    """How one kind of model is told apart, written, checked before loading, and loaded."""

    suffix: str
    holds: Callable[[Any], bool]
    save: Callable[[Any, Path], None]
    check: Callable[[Path], object]
    load: Callable[[Path], Any]


def _is_keras(model: Any) -> bool:
    return hasattr(model, "save")


def _save_keras(model: Any, path: Path) -> None:
    model.save(path)


def _load_keras(path: Path) -> Any:
    check_keras_file(path)
    import keras

    return keras.models.load_model(path, safe_mode=True, compile=False)


# In the order a model is matched against them; scikit-learn (skops) takes whatever is left.
_FORMATS = (
    _ModelFormat(_KERAS_SUFFIX, _is_keras, _save_keras, check_keras_file, _load_keras),
    _ModelFormat(CATBOOST_SUFFIX, is_catboost, save_catboost, check_catboost_file, load_catboost),
    _ModelFormat(LIGHTGBM_SUFFIX, is_lightgbm, save_lightgbm, check_lightgbm_file, load_lightgbm),
    _ModelFormat(SKOPS_SUFFIX, lambda model: True, save_sklearn, check_sklearn_file, load_sklearn),
)
_BY_SUFFIX = {form.suffix: form for form in _FORMATS}
_PACKED_MODELS = tuple(f"model{form.suffix}" for form in _FORMATS)
_PACKED_PREPROCESSOR = f"preprocessor{SKOPS_SUFFIX}"


def pack_fold(model: Any, preprocessor: Any) -> bytes:
    """A fold's model and preprocessor as one zip of the files :func:`save_fold_models` writes
    (``model`` with its format's suffix, and ``preprocessor.skops``), for a worker to hand
    back."""
    with tempfile.TemporaryDirectory(prefix="automl-fold-") as scratch:
        folder = Path(scratch)
        names = [save_model(model, folder / "model"), _PACKED_PREPROCESSOR]
        save_sklearn(preprocessor, folder / _PACKED_PREPROCESSOR)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for name in names:
                archive.write(folder / name, name)
    return buffer.getvalue()


def _unpack_fold(packed: bytes, folder: Path, index: int) -> None:
    """Write :func:`pack_fold`'s files as fold ``index`` of ``folder``; nothing is opened (the
    files are checked when they are loaded), and a member of any other name is refused."""
    with zipfile.ZipFile(io.BytesIO(packed)) as archive:
        names = set(archive.namelist())
        models = [name for name in _PACKED_MODELS if name in names]
        if len(models) != 1 or names != {models[0], _PACKED_PREPROCESSOR}:
            raise ValueError(f"a packed fold holds {sorted(names)}, not a model and preprocessor")
        suffix = Path(models[0]).suffix
        (folder / f"fold_{index}{suffix}").write_bytes(archive.read(models[0]))
        _preprocessor_path(folder, index).write_bytes(archive.read(_PACKED_PREPROCESSOR))


def load_oof(folder: Path) -> np.ndarray | None:
    """The stored out-of-fold predictions, or ``None`` when the folder holds none (or holds an
    older layout's pickled fold models)."""
    if not _preprocessor_path(folder, 1).is_file():
        return None
    try:
        return np.load(folder / OOF_FILE, allow_pickle=False)
    except (OSError, ValueError):
        return None


def load_fold_models(folder: Path) -> list[tuple[Any, Any]]:
    """The (model, preprocessor) pairs :func:`save_fold_models` wrote, in fold order."""
    pairs = []
    index = 1
    while _preprocessor_path(folder, index).is_file():
        model = load_model(folder / f"fold_{index}")
        pairs.append((model, load_sklearn(_preprocessor_path(folder, index))))
        index += 1
    return pairs


def save_model(model: Any, stem: Path) -> str:
    """Save a Keras model as ``<stem>.keras``, a CatBoost one as ``<stem>.cbm``, a LightGBM one
    as ``<stem>.lgbm`` or a scikit-learn one as ``<stem>.skops``; the file's name."""
    form = next(form for form in _FORMATS if form.holds(model))
    path = stem.with_suffix(form.suffix)
    form.save(model, path)
    return path.name


def check_model_file(path: Path) -> None:
    """Refuse ``path`` in one line unless it is safe to load, by its kind: a skops file's types,
    a CatBoost or LightGBM file's header, or a Keras file's config."""
    _BY_SUFFIX.get(path.suffix, _BY_SUFFIX[_KERAS_SUFFIX]).check(path)


def load_model(stem_or_path: Path) -> Any:
    """Load what :func:`save_model` wrote, checked first (Keras then in safe mode); the suffix may
    be left off."""
    path = Path(stem_or_path)
    if path.suffix not in _BY_SUFFIX:
        stem = path
        path = next(
            (p for p in map(stem.with_suffix, _BY_SUFFIX) if p.is_file()),
            stem.with_suffix(SKOPS_SUFFIX),  # missing: the skops check names it
        )
    return _BY_SUFFIX[path.suffix].load(path)


def _preprocessor_path(folder: Path, index: int) -> Path:
    return folder / f"preprocessor_{index}{SKOPS_SUFFIX}"


def keep_only(trials_dir: Path, keys: Iterable[str]) -> None:
    """Delete the trial folders whose key is not in ``keys`` (they can no longer be chosen)."""
    wanted = set(keys)
    if not trials_dir.is_dir():
        return
    for folder in trials_dir.iterdir():
        if folder.is_dir() and not folder.name.startswith(".") and folder.name not in wanted:
            shutil.rmtree(folder, ignore_errors=True)


def keep_trial(
    trials_dir: Path, spec: ModelSpec, evaluation: Evaluation, folds: Folds, rows: int
) -> None:
    """Store a complete trial's out-of-fold predictions and fold models for the ensemble, in the
    folder of its spec under ``trials_dir``.

    A fold trained by a worker comes packed (:func:`pack_fold`); a backend that hands back no
    fold models leaves nothing to store.
    """
    stored: list[tuple[Any, Any] | bytes] = []
    for fold in evaluation.folds:
        if fold.packed is not None:
            stored.append(fold.packed)
        elif fold.result.model is not None:
            stored.append((fold.result.model, fold.preprocessor))
        else:
            return
    oof = out_of_fold([fold.result.valid_proba for fold in evaluation.folds], folds, rows)
    save_fold_models(trials_dir / artifact_key(spec.to_json()), oof, stored)
