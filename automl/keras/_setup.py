"""A process's TensorFlow set-up: imported once, without its start-up chatter, with its threads."""

from __future__ import annotations

import logging
import os
import sys

_threads_set: int | None = None


def prepare_tensorflow(threads: int | None = None) -> None:
    """Import TensorFlow and Keras quietly and, once per process, size its thread pools.

    TensorFlow's C++ start-up lines ignore ``TF_CPP_MIN_LOG_LEVEL``, so file descriptor 2 is
    muted while it loads; Python errors still propagate as exceptions. ``threads`` (a worker
    process's share of the cores) sets the intra-op pool and a single inter-op thread: small
    Keras models do not scale across TensorFlow's threads, whole trials side by side do. The
    pools can only be sized before TensorFlow first runs, so the first call that names
    ``threads`` wins and later ones keep it.
    """
    global _threads_set
    if "tensorflow" not in sys.modules:
        _import_quietly()
    if threads is None or _threads_set is not None:
        return
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    _threads_set = threads


def _import_quietly() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
