"""Inference inside Spark's Python workers: a bundle shipped as bytes, loaded once per worker.

The bundle's files travel in the UDF's closure (Spark Connect has no broadcasts); a worker
writes them to a temporary folder once and loads them with :meth:`automl.ModelBundle.load`
(Keras safe mode, the files' sha256 checked), then keeps the bundle for the next batches.
Batches arrive and leave as Arrow arrays. The same files, cut into chunks, are the rows an
:class:`~automl_spark.ml.AutoMLModel` saves.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from automl.results import ModelBundle

_loaded: dict[str, ModelBundle] = {}
CHUNK_BYTES = 8 << 20  # a saved row holds at most this much of a file


@dataclass(frozen=True)
class BundleFiles:
    """A bundle's files (relative path to bytes) and a hash of them all."""

    key: str
    files: dict[str, bytes] = field(repr=False)


def bundle_files(bundle: ModelBundle) -> BundleFiles:
    """The bundle's files and their content hash."""
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
    return BundleFiles(digest.hexdigest(), files)


def files_to_rows(shipped: BundleFiles) -> Any:
    """The files as an Arrow table of ``(file, chunk, data)`` rows, each chunk at most
    :data:`CHUNK_BYTES`."""
    import pyarrow as pa

    rows: dict[str, list[Any]] = {"file": [], "chunk": [], "data": []}
    for name, data in shipped.files.items():
        for number, start in enumerate(range(0, max(1, len(data)), CHUNK_BYTES)):
            rows["file"].append(name)
            rows["chunk"].append(number)
            rows["data"].append(data[start : start + CHUNK_BYTES])
    schema = pa.schema([("file", pa.string()), ("chunk", pa.int32()), ("data", pa.binary())])
    return pa.table(rows, schema=schema)


def files_from_rows(table: Any) -> dict[str, bytes]:
    """The files :func:`files_to_rows` cut into rows, whole again."""
    chunks: dict[str, dict[int, bytes]] = {}
    for name, number, data in zip(
        *(table.column(c).to_pylist() for c in ("file", "chunk", "data")), strict=True
    ):
        chunks.setdefault(name, {})[number] = data
    return {name: b"".join(parts[i] for i in sorted(parts)) for name, parts in chunks.items()}


def bundle_on_worker(shipped: BundleFiles, threads: int) -> ModelBundle:
    """The bundle of ``shipped``, loaded the first time this worker needs it."""
    key, files = shipped.key, shipped.files
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
