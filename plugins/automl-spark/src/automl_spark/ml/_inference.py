"""Inference inside Spark's Python workers: a bundle shipped as bytes, loaded once per worker.

The bundle's files travel in a broadcast; a worker writes them to a temporary folder once and
loads them with :meth:`automl.ModelBundle.load` (Keras safe mode), then keeps the bundle for the
next batches. Batches arrive and leave as Arrow arrays.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from automl.results import ModelBundle

_loaded: dict[str, ModelBundle] = {}


def bundle_files(bundle: ModelBundle) -> tuple[str, dict[str, bytes]]:
    """The bundle's files as ``(content hash, {relative path: bytes})``."""
    folder = Path(tempfile.mkdtemp(prefix="automl-spark-bundle-"))
    try:
        bundle.save(folder / "bundle")
        root = folder / "bundle"
        files = {
            str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    digest = hashlib.sha256()
    for name, data in files.items():
        digest.update(name.encode() + b"\0" + data)
    return digest.hexdigest(), files


def bundle_on_worker(key: str, files: dict[str, bytes], threads: int) -> ModelBundle:
    """The bundle for ``key``, loaded from ``files`` the first time this worker needs it."""
    if key not in _loaded:
        from automl_spark import _worker

        _worker.keras_with_threads(threads)
        folder = Path(tempfile.mkdtemp(prefix="automl-spark-bundle-"))
        try:
            for name, data in files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(data)
            _loaded[key] = ModelBundle.load(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return _loaded[key]


def predict_arrow(bundle: ModelBundle, features: Any, column: str) -> Any:
    """Class probabilities of a batch: an Arrow list array of features in, of doubles out."""
    import pandas as pd
    import pyarrow as pa

    width = len(bundle.schema.columns)
    values = features.flatten().to_numpy(zero_copy_only=False)
    if features.null_count or values.size != width * len(features):
        raise ValueError(
            f"{column}: every row needs a vector of {width} features (the model was fitted on "
            f"{width}); got {values.size} values over {len(features)} rows"
        )
    frame = pd.DataFrame(values.reshape(len(features), width), columns=bundle.schema.columns)
    proba = np.asarray(bundle.predict_proba(frame), dtype=np.float64)
    flat = pa.array(proba.ravel())
    return pa.FixedSizeListArray.from_arrays(flat, proba.shape[1]).cast(pa.list_(pa.float64()))
