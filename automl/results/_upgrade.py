"""Converting a bundle of format 1 or 2 (pickled scikit-learn parts) to format 3.

This is the only code in automl that unpickles, and only when the user asks for it with
``automl bundle upgrade``: a pickle runs code as it loads, so it is for bundles the user trusts.
The converted bundle must predict what the old one predicts before it replaces anything.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl._files import replace_folder
from automl.data import FeatureSchema
from automl.errors import UserError
from automl.results._artifacts import load_model
from automl.results._bundle import (
    BUNDLE_FILE,
    BUNDLE_FORMAT,
    MANIFEST_KEYS,
    Member,
    ModelBundle,
)

_PICKLED_FORMATS = (1, 2)
_PROBE_ROWS = 256
_TOLERANCE = 1e-6


def upgrade_bundle(source: Path, target: Path) -> float:
    """Write ``source`` (format 1 or 2) as a format-3 bundle in ``target`` (may be ``source``).

    Both bundles predict the same probe rows first; the largest difference is returned.
    Nothing is written unless they agree to within 1e-6.
    """
    old = _load_pickled(Path(source))
    rows = _probe_rows(old)
    expected = old.predict_proba(rows)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".upgrade-", dir=target.parent) as scratch:
        converted = Path(scratch) / "bundle"
        old.save(converted)
        difference = float(np.abs(ModelBundle.load(converted).predict_proba(rows) - expected).max())
        if difference > _TOLERANCE:
            raise UserError(
                f"{source}: the converted bundle predicts differently (by up to "
                f"{difference:.3g}); nothing was written"
            )
        replace_folder(target, lambda folder: _move_files(converted, folder))
    return difference


def _load_pickled(folder: Path) -> ModelBundle:
    """A format 1 or 2 bundle, unpickled."""
    import joblib

    try:
        manifest = json.loads((folder / BUNDLE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{folder}: not a model bundle ({BUNDLE_FILE}: {exc})") from None
    version = manifest.get("format", 1)
    if version not in _PICKLED_FORMATS:
        raise UserError(
            f"{folder}: bundle format {version} needs no upgrade (this automl writes format "
            f"{BUNDLE_FORMAT})"
        )
    try:
        members = [
            Member(
                _load_member(folder / entry["model"]),
                joblib.load(folder / entry["preprocessor"]),
                float(entry["weight"]),
                int(entry.get("group", 0)),
            )
            for entry in manifest["members"]
        ]
        stacker = joblib.load(folder / manifest["stacker"]) if manifest.get("stacker") else None
        schema = FeatureSchema.from_dict(manifest["schema"])
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise UserError(f"{folder}: damaged model bundle: {exc}") from None
    info = {k: v for k, v in manifest.items() if k not in MANIFEST_KEYS}
    classes = tuple(manifest["classes"])
    return ModelBundle(members, classes, schema, manifest.get("id_column"), info, stacker)


def _load_member(path: Path) -> Any:
    if path.suffix == ".joblib":
        import joblib

        return joblib.load(path)
    return load_model(path)


def _probe_rows(bundle: ModelBundle) -> pd.DataFrame:
    """Rows to compare predictions on: numbers of several magnitudes, and each categorical
    column's known categories (read from the first member's encoder) or a missing value."""
    rng = np.random.default_rng(0)
    known = _categories(bundle.members[0].preprocessor)
    columns: dict[str, Any] = {}
    for name in bundle.schema.columns:
        if name in bundle.schema.categorical:
            choices = known.get(name) or [None]
            columns[name] = [choices[i % len(choices)] for i in range(_PROBE_ROWS)]
        else:
            columns[name] = rng.normal(size=_PROBE_ROWS) * rng.choice([1.0, 10.0], _PROBE_ROWS)
    return pd.DataFrame(columns)


def _categories(preprocessor: Any) -> dict[str, list[Any]]:
    """The categories automl's preprocessor learned per categorical column, when it can tell."""
    try:
        encoder = preprocessor.named_steps["columns"].named_transformers_["categorical"]
        names = encoder.feature_names_in_
        return {str(n): list(c) for n, c in zip(names, encoder[-1].categories_, strict=True)}
    except (AttributeError, KeyError, TypeError, ValueError):
        return {}


def _move_files(source: Path, folder: Path) -> None:
    for path in source.iterdir():
        shutil.move(str(path), folder / path.name)
