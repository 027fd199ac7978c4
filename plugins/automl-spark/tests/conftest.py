"""One local[2] SparkSession for every Spark test of the run (backends reuse a running session)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from automl_spark.session import SessionOptions, spark_session

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MASTER = "local[2]"


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A local[2] SparkSession shared by all Spark tests, stopped at the end of the run."""
    session, started = spark_session(SessionOptions(MASTER))
    yield session
    if started:
        session.stop()
