"""The saved best model: Keras model(s), fitted preprocessor(s), classes, schema, spec, metrics.

A bundle is a folder (format 3)::

    bundle.json              classes, feature schema, id column, members, spec, metrics, versions,
                             and the sha256 of every other file
    model.keras              one member per model (refit: one; fold ensemble: one per fold;
                             ensemble: the fold models of each chosen trial, weighted)
    model_<n>.skops          a scikit-learn member (a reference: gradient boosting, extra trees)
    model_<n>.cbm            a CatBoost member (the catboost reference), in CatBoost's own format
    model_<n>.lgbm           a LightGBM member (the lightgbm reference), in LightGBM's text format
    preprocessor_<n>.skops   a fitted preprocessor; members trained on the same rows with the same
                             transform share one
    stacker.skops            a stacked ensemble's logistic regression: each member belongs to a
                             group (a candidate), and the stacker combines the groups' weighted
                             means

Loading runs none of the bundle's code: every file must match its recorded digest, scikit-learn
parts are skops files of trusted types only, CatBoost and LightGBM parts are those libraries' own
model formats, checked by their headers, and Keras files pass a check of their config before
Keras opens them in safe mode (:func:`verify_bundle`). Formats 1 and 2 held pickles; they are
refused with the command that converts one you trust (:mod:`automl.results._upgrade`).
Predicting needs neither Spark nor the recipe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl._files import replace_folder, sha256_of
from automl.data import FeatureSchema, compiled_transform, read_features
from automl.errors import UserError
from automl.keras import predict_proba, traced_predictor
from automl.results._artifacts import check_model_file, load_model, save_model
from automl.results._sklearn_storage import (
    SKOPS_SUFFIX,
    load_sklearn,
    save_sklearn,
)
from automl.results._stacking import stacked_proba

BUNDLE_FILE = "bundle.json"
STACKER_FILE = f"stacker{SKOPS_SUFFIX}"
BUNDLE_FORMAT = 3  # 1 and 2 held pickles (2: with a stacker); 3: skops files and digests
# bundle.json keys that are the bundle itself; every other key is its info
MANIFEST_KEYS = {"format", "files", "classes", "schema", "id_column", "members", "stacker"}


@dataclass
class Member:
    """One model of the bundle (Keras, or scikit-learn with ``predict_proba``) with the
    preprocessor fitted on its training rows."""

    model: Any
    preprocessor: Any
    weight: float = 1.0
    group: int = 0
    traced: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (inside a fitted :class:`~automl.AutoMLClassifier`) without its traced
        function, a cache that :meth:`ModelBundle.trace` makes again."""
        return {**self.__dict__, "traced": None}


@dataclass
class ModelBundle:
    """Everything needed to predict: :meth:`load` it, then :meth:`predict_proba`/:meth:`predict`."""

    members: list[Member]
    classes: tuple
    schema: FeatureSchema
    id_column: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    stacker: Any = None
    _compiled: dict[int, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its compiled transforms, a cache that :meth:`trace` makes again."""
        return {**self.__dict__, "_compiled": {}}

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Class probabilities, one row per input row, columns in :attr:`classes` order.

        The members' weighted mean (each member's rows already sum to 1, so the mean's do); with
        a stacker, the weighted mean of each group, combined by the stacker.
        """
        inputs = _Inputs(features, self._compiled)
        if self.stacker is None:
            return _weighted_mean(self.members, inputs)
        groups = sorted({m.group for m in self.members})
        probas = [_weighted_mean([m for m in self.members if m.group == g], inputs) for g in groups]
        return stacked_proba(self.stacker, probas, len(self.classes))

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """The most probable class label of each row."""
        return np.asarray(self.classes, dtype=object)[self.predict_proba(features).argmax(axis=1)]

    @property
    def label_column(self) -> str:
        """The name of the predicted label's column: the target column's name (as AutoGluon
        names its predictions), or ``label`` when the bundle does not know it."""
        return str(self.info.get("target") or "label")

    @property
    def example_row(self) -> dict[str, Any]:
        """Typical feature values (numeric medians, most frequent categories of the training
        rows) to show as a sample request; zeros and no category for a bundle without them."""
        stored = self.info.get("example") or {}
        return {
            column: stored.get(column, None if column in self.schema.categorical else 0.0)
            for column in self.schema.columns
        }

    def trace(self) -> None:
        """Make small predictions fast from now on: what a server does before it warms up.

        Keras members predict through one traced graph each (:func:`automl.keras.traced_predictor`),
        scikit-learn members on the calling thread (a forest's thread pool costs more than its
        trees on a few rows), and each preprocessor through :func:`automl.data.compiled_transform`
        once that gives the same matrix as scikit-learn on the typical row.
        """
        example = pd.DataFrame([self.example_row], columns=list(self.schema.columns))
        for column in self.schema.numeric:
            example[column] = example[column].astype(np.float64)
        for member in self.members:
            if hasattr(member.model, "predict_proba"):
                if "n_jobs" in member.model.get_params():
                    member.model.set_params(n_jobs=1)
            elif member.traced is None:
                member.traced = traced_predictor(member.model)
        shared = {id(m.preprocessor): m.preprocessor for m in self.members}  # each one once
        for key, preprocessor in shared.items():
            compiled = compiled_transform(preprocessor)
            if compiled is not None and np.array_equal(
                compiled(example), preprocessor.transform(example)
            ):
                self._compiled[key] = compiled

    def prediction_frame(
        self, features: pd.DataFrame, ids: pd.Series | None = None, *, proba_only: bool = False
    ) -> pd.DataFrame:
        """The id column (when ``ids`` is given), the predicted label (unless ``proba_only``) and
        one probability column per class, in :attr:`classes` order: what ``automl predict``
        writes."""
        proba = self.predict_proba(features)
        frame = pd.DataFrame(proba, columns=[str(c) for c in self.classes])
        if not proba_only:
            labels = np.asarray(self.classes, dtype=object)[proba.argmax(axis=1)]
            frame.insert(0, self.label_column, labels)
        if ids is not None:
            frame.insert(0, self.id_column, ids.to_numpy())
        return frame

    def predict_file(self, path: Path, *, proba_only: bool = False) -> pd.DataFrame:
        """Read a CSV/Parquet file and return its :meth:`prediction_frame`."""
        features, ids = read_features(path, self.schema, self.id_column)
        return self.prediction_frame(features, ids, proba_only=proba_only)

    def save(self, path: Path) -> None:
        """Write the bundle folder atomically (a killed write leaves the previous bundle intact)."""
        replace_folder(Path(path), self._write)

    def _write(self, folder: Path) -> None:
        import joblib  # its hash of an object's fitted state, to share equal preprocessors

        entries: list[dict[str, Any]] = []
        preprocessors: dict[str, str] = {}  # fitted state's hash: file name
        for index, member in enumerate(self.members, start=1):
            stem = "model" if len(self.members) == 1 else f"model_{index}"
            key = joblib.hash(member.preprocessor)
            if key not in preprocessors:
                preprocessors[key] = f"preprocessor_{len(preprocessors) + 1}{SKOPS_SUFFIX}"
                save_sklearn(member.preprocessor, folder / preprocessors[key])
            entries.append(
                {
                    "model": save_model(member.model, folder / stem),
                    "preprocessor": preprocessors[key],
                    "weight": member.weight,
                    "group": member.group,
                }
            )
        stacking = {}
        if self.stacker is not None:
            save_sklearn(self.stacker, folder / STACKER_FILE)
            stacking = {"stacker": STACKER_FILE}
        manifest = {
            "format": BUNDLE_FORMAT,
            **stacking,
            "classes": list(self.classes),
            "schema": self.schema.to_dict(),
            "id_column": self.id_column,
            "members": entries,
            **self.info,
            "files": {p.name: sha256_of(p) for p in sorted(folder.iterdir())},
        }
        (folder / BUNDLE_FILE).write_text(json.dumps(manifest, indent=2, default=str) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ModelBundle:
        """Load a bundle folder written by :meth:`save`, after :func:`verify_bundle` passed it."""
        folder = Path(path)
        manifest = verify_bundle(folder)
        preprocessors: dict[str, Any] = {}
        members = []
        for entry in manifest["members"]:
            name = entry["preprocessor"]
            if name not in preprocessors:
                preprocessors[name] = load_sklearn(folder / name)
            model = load_model(folder / entry["model"])
            weight, group = float(entry["weight"]), int(entry.get("group", 0))
            members.append(Member(model, preprocessors[name], weight, group))
        stacker = load_sklearn(folder / manifest["stacker"]) if "stacker" in manifest else None
        info = {k: v for k, v in manifest.items() if k not in MANIFEST_KEYS}
        return cls(
            members,
            tuple(manifest["classes"]),
            FeatureSchema.from_dict(manifest["schema"]),
            manifest.get("id_column"),
            info,
            stacker,
        )


def verify_bundle(path: Path) -> dict[str, Any]:
    """Check a bundle folder without loading a model (nor TensorFlow) and return its manifest.

    One line for the first problem: no ``bundle.json``, an old (pickled) or newer format, a file
    missing or not matching its sha256, a member file the manifest does not list, a scikit-learn
    file holding an untrusted type, a Keras file naming a class automl does not build, a CatBoost
    or LightGBM file that does not begin as its library's model format does.
    """
    folder = Path(path)
    manifest = read_manifest(folder)
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise UserError(f"{folder}: damaged model bundle: {BUNDLE_FILE} lists no file digests")
    for name, digest in files.items():
        if Path(name).name != name or not (folder / name).is_file():
            raise UserError(f"{folder}: damaged model bundle: {name} is missing")
        if sha256_of(folder / name) != digest:
            raise UserError(
                f"{folder}: damaged model bundle: {name} does not match the sha256 in "
                f"{BUNDLE_FILE} (changed or replaced after it was written)"
            )
    try:
        parts = [e["model"] for e in manifest["members"]]
        parts += [e["preprocessor"] for e in manifest["members"]]
        parts += [manifest["stacker"]] if "stacker" in manifest else []
        FeatureSchema.from_dict(manifest["schema"])
        tuple(manifest["classes"])
    except (KeyError, TypeError) as exc:
        raise UserError(f"{folder}: damaged model bundle: {BUNDLE_FILE} lacks {exc}") from None
    for name in parts:
        if name not in files:
            raise UserError(f"{folder}: damaged model bundle: {name} has no recorded sha256")
        check_model_file(folder / name)
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    """A bundle folder's ``bundle.json``, refused in one line when it is not format 3."""
    manifest_path = folder / BUNDLE_FILE
    if not manifest_path.is_file():
        raise UserError(f"{folder}: not a model bundle (no {BUNDLE_FILE})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        version = int(manifest.get("format", 1))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise UserError(f"{folder}: damaged model bundle: {BUNDLE_FILE}: {exc}") from None
    if version > BUNDLE_FORMAT:
        raise UserError(
            f"{folder}: bundle format {version} needs a newer automl "
            f"(this one reads up to {BUNDLE_FORMAT})"
        )
    if version < BUNDLE_FORMAT:
        raise UserError(
            f"{folder}: bundle format {version} holds pickles, which run code when loaded; "
            f"convert a bundle you trust with: automl bundle upgrade {folder} -o NEW_FOLDER"
        )
    return manifest


class _Inputs:
    """The members' input matrices for one call: each preprocessor transforms the rows once,
    shared by the members that share it."""

    def __init__(self, features: pd.DataFrame, compiled: dict[int, Any]) -> None:
        self._features = features
        self._compiled = compiled
        self._matrices: dict[int, np.ndarray] = {}

    def matrix(self, preprocessor: Any) -> np.ndarray:
        key = id(preprocessor)
        if key not in self._matrices:
            transform = self._compiled.get(key, preprocessor.transform)
            self._matrices[key] = transform(self._features)
        return self._matrices[key]


def _weighted_mean(members: list[Member], inputs: _Inputs) -> np.ndarray:
    total = sum(m.weight for m in members)
    return np.asarray(sum(m.weight * _member_proba(m, inputs) for m in members) / total)


def _member_proba(member: Member, inputs: _Inputs) -> np.ndarray:
    x = inputs.matrix(member.preprocessor)
    if hasattr(member.model, "predict_proba"):  # scikit-learn
        return member.model.predict_proba(x)
    if member.traced is not None:
        return member.traced(x)
    return predict_proba(member.model, x)
