"""The saved best model: Keras model(s), fitted preprocessor(s), classes, schema, spec, metrics.

A bundle is a folder::

    bundle.json              classes, feature schema, id column, members, spec, metrics, versions
    model.keras              one member per model (refit: one; fold ensemble: one per fold;
                             ensemble: the fold models of each chosen trial, weighted)
    model_<n>.joblib         a scikit-learn member (the gradient boosting reference)
    preprocessor.joblib      the member's fitted scikit-learn preprocessor
    stacker.joblib           a stacked ensemble's logistic regression (format 2): each member
                             belongs to a group (a candidate), and the stacker combines the
                             groups' weighted means

Keras models load with Keras safe mode; the joblib files are local files the run wrote, never
bytes from a network. Predicting needs neither Spark nor the recipe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from automl._files import replace_folder
from automl.data import FeatureSchema, read_features
from automl.errors import UserError
from automl.keras import predict_proba, traced_predictor
from automl.results._artifacts import load_model, save_model
from automl.results._stacking import stacked_proba

BUNDLE_FILE = "bundle.json"
STACKER_FILE = "stacker.joblib"
BUNDLE_FORMAT = 2  # 1: a weighted mean of the members; 2: may hold a stacker


@dataclass
class Member:
    """One model of the bundle (Keras, or scikit-learn with ``predict_proba``) with the
    preprocessor fitted on its training rows."""

    model: Any
    preprocessor: Any
    weight: float = 1.0
    group: int = 0
    traced: Any = field(default=None, repr=False, compare=False)


@dataclass
class ModelBundle:
    """Everything needed to predict: :meth:`load` it, then :meth:`predict_proba`/:meth:`predict`."""

    members: list[Member]
    classes: tuple
    schema: FeatureSchema
    id_column: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    stacker: Any = None

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Class probabilities, one row per input row, columns in :attr:`classes` order.

        The members' weighted mean (each member's rows already sum to 1, so the mean's do); with
        a stacker, the weighted mean of each group, combined by the stacker.
        """
        if self.stacker is None:
            return _weighted_mean(self.members, features)
        groups = sorted({m.group for m in self.members})
        probas = [
            _weighted_mean([m for m in self.members if m.group == g], features) for g in groups
        ]
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
        """Predict through one traced graph per Keras member from now on (see
        :func:`automl.keras.traced_predictor`): what a server does before it warms up."""
        for member in self.members:
            if not hasattr(member.model, "predict_proba") and member.traced is None:
                member.traced = traced_predictor(member.model)

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
        entries = []
        for index, member in enumerate(self.members):
            stem = "model" if len(self.members) == 1 else f"model_{index + 1}"
            prep = "preprocessor" if len(self.members) == 1 else f"preprocessor_{index + 1}"
            model_file = save_model(member.model, folder / stem)
            joblib.dump(member.preprocessor, folder / f"{prep}.joblib")
            entries.append(
                {
                    "model": model_file,
                    "preprocessor": f"{prep}.joblib",
                    "weight": member.weight,
                    "group": member.group,
                }
            )
        stacking = {}
        if self.stacker is not None:
            joblib.dump(self.stacker, folder / STACKER_FILE)
            stacking = {"stacker": STACKER_FILE}
        manifest = {
            "format": BUNDLE_FORMAT if stacking else 1,
            **stacking,
            "classes": list(self.classes),
            "schema": self.schema.to_dict(),
            "id_column": self.id_column,
            "members": entries,
            **self.info,
        }
        (folder / BUNDLE_FILE).write_text(json.dumps(manifest, indent=2, default=str) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ModelBundle:
        """Load a bundle folder written by :meth:`save` (Keras safe mode on)."""
        folder = Path(path)
        manifest_path = folder / BUNDLE_FILE
        if not manifest_path.is_file():
            raise UserError(f"{folder}: not a model bundle (no {BUNDLE_FILE})")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            if manifest.get("format", 1) > BUNDLE_FORMAT:
                raise UserError(
                    f"{folder}: bundle format {manifest['format']} needs a newer automl "
                    f"(this one reads up to {BUNDLE_FORMAT})"
                )
            members = [
                Member(
                    load_model(folder / e["model"]),
                    joblib.load(folder / e["preprocessor"]),
                    float(e["weight"]),
                    int(e.get("group", 0)),
                )
                for e in manifest["members"]
            ]
            stacker = manifest.get("stacker")
            stacker = joblib.load(folder / stacker) if stacker else None
        except (OSError, ValueError, KeyError) as exc:
            raise UserError(f"{folder}: damaged model bundle: {exc}") from None
        info = {
            k: v
            for k, v in manifest.items()
            if k not in {"format", "classes", "schema", "id_column", "members", "stacker"}
        }
        return cls(
            members,
            tuple(manifest["classes"]),
            FeatureSchema.from_dict(manifest["schema"]),
            manifest.get("id_column"),
            info,
            stacker,
        )


def _weighted_mean(members: list[Member], features: pd.DataFrame) -> np.ndarray:
    total = sum(m.weight for m in members)
    return np.asarray(sum(m.weight * _member_proba(m, features) for m in members) / total)


def _member_proba(member: Member, features: pd.DataFrame) -> np.ndarray:
    x = member.preprocessor.transform(features)
    if hasattr(member.model, "predict_proba"):  # scikit-learn
        return member.model.predict_proba(x)
    if member.traced is not None:
        return member.traced(x)
    return predict_proba(member.model, x)
