"""automl on Spark: the ``spark-sync`` backend, and the session every Spark part of a search shares.

pyspark and TensorFlow are imported only when a Spark backend or model is used, so that listing
backends (``automl backends``) stays fast and works without Java.
"""

from automl_spark.asynchronous import SparkAsyncBackend
from automl_spark.session import SessionOptions, spark_session
from automl_spark.synchronous import SparkSyncBackend
from automl_spark.trials import SparkTrialsBackend

__all__ = [
    "SessionOptions",
    "SparkAsyncBackend",
    "SparkSyncBackend",
    "SparkTrialsBackend",
    "spark_session",
]
