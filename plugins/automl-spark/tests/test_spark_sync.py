"""The spark-sync backend on a real local[2] Spark: automl's contract suite, discovery, a search."""

from __future__ import annotations

from typing import Any

import pytest

from automl.plugins import registry
from automl.testing import BackendContract
from automl_spark import SparkSyncBackend

MASTER = "local[2]"  # the shared session's master (conftest.py)


class TestSparkSyncBackend(BackendContract):
    @pytest.fixture(autouse=True)
    def _shared_session(self, spark: Any) -> None:
        """Start the shared session before the backend is used, so that it reuses it."""

    def make_backend(self) -> SparkSyncBackend:
        return SparkSyncBackend(master=MASTER, threads_per_worker=1)


def test_the_entry_point_registers_spark_sync_with_its_options() -> None:
    info = registry().backend("spark-sync")
    assert info.package == "automl-spark"
    assert info.options["master"] == "local[*]"
    assert info.options["batches_per_round"] is None
