"""TensorFlow's start-up chatter, muted."""

from __future__ import annotations

import logging
import os
import sys


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras with its C++ start-up lines muted.

    Those lines ignore ``TF_CPP_MIN_LOG_LEVEL``, so file descriptor 2 is muted while TensorFlow
    loads; Python errors still propagate as exceptions.
    """
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
