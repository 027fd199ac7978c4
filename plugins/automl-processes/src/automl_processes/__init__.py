"""An automl backend that trains folds in worker processes (see :class:`ProcessBackend`)."""

from automl_processes.backend import ProcessBackend

__all__ = ["ProcessBackend"]
