"""The plugin module named by the ``automl`` entry point."""

from __future__ import annotations

from typing import Any

import automl
from automl_processes.backend import ProcessBackend


@automl.hookimpl
def register_backends(register: Any) -> None:
    """Register the ``processes`` backend."""
    register(
        "processes",
        ProcessBackend,
        description="each fold in a worker process; n_jobs folds at once",
    )
