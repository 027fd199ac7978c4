"""The plugin module named by the ``automl`` entry point."""

from __future__ import annotations

from typing import Any

import automl
from automl_spark.synchronous import SparkSyncBackend


@automl.hookimpl
def register_backends(register: Any) -> None:
    """Register the Spark backends."""
    register(
        "spark-sync",
        SparkSyncBackend,
        description="data-parallel on Spark: every round, partitions train from the same weights",
    )
