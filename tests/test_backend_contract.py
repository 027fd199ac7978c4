"""The built-in backend passes the contract suite that plugin authors run on theirs."""

from __future__ import annotations

from automl.keras import LocalBackend
from automl.testing import BackendContract


class TestLocalBackend(BackendContract):
    def make_backend(self) -> LocalBackend:
        return LocalBackend()
