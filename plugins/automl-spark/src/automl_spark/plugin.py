"""The plugin module named by the ``automl`` entry point."""

from __future__ import annotations

from typing import Any

import automl
from automl.training import Backend
from automl.tuning import SearchJob, TrialPool
from automl_spark.asynchronous import SparkAsyncBackend
from automl_spark.synchronous import SparkSyncBackend
from automl_spark.trials import SparkTrialsBackend, spark_trial_pool


@automl.hookimpl
def register_backends(register: Any) -> None:
    """Register the Spark backends."""
    register(
        "spark-sync",
        SparkSyncBackend,
        description="data-parallel on Spark: every round, partitions train from the same weights",
    )
    register(
        "spark-async",
        SparkAsyncBackend,
        description="data-parallel on Spark: workers pull from and push to a parameter server",
    )
    register(
        "spark-trials",
        SparkTrialsBackend,
        description="search.parallel trials at once on Spark, each fold a task",
    )


@automl.hookimpl
def make_trial_pool(
    backend: Backend, options: dict[str, Any], workers: int, job: SearchJob
) -> TrialPool | None:
    """Folds as Spark tasks for the ``spark-trials`` backend; no pool for the other backends."""
    if isinstance(backend, SparkTrialsBackend):
        return spark_trial_pool(backend, workers, job)
    return None
