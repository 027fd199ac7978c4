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
from automl.keras import predict_proba
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

    def predict_file(self, path: Path) -> pd.DataFrame:
        """Read a CSV/Parquet file and return the id column (if any) and one column per class."""
        features, ids = read_features(path, self.schema, self.id_column)
        frame = pd.DataFrame(self.predict_proba(features), columns=[str(c) for c in self.classes])
        if ids is not None:
            frame.insert(0, self.id_column, ids.to_numpy())
        return frame

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
    return predict_proba(member.model, x)
