"""The engine's own plugin: the ``local`` backend and the local worker processes, registered
through the same hooks a third-party plugin uses."""

from __future__ import annotations

from typing import Any

from automl.keras import LocalBackend
from automl.plugins._hookspecs import hookimpl
from automl.training import Backend
from automl.tuning import ProcessPool, SearchJob, TrialPool


@hookimpl
def register_backends(register: Any) -> None:
    """Register the local backend."""
    register("local", LocalBackend, description="Keras model.fit in this process")


@hookimpl
def make_trial_pool(
    backend: Backend, options: dict[str, Any], workers: int, job: SearchJob
) -> TrialPool | None:
    """Local worker processes for a process-safe backend, each making its own from ``options``."""
    factory = type(backend)
    return ProcessPool(workers, job, factory, options) if factory.process_safe else None
