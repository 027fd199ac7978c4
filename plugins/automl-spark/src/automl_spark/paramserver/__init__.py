"""The exchanges among Spark tasks: the ``spark-async`` parameter server and its client, the
``spark-sync`` averaging through task 0, and their wire protocol.

Only NumPy and the standard library: all of it runs in Spark's Python workers.
"""

from automl_spark.paramserver._averager import AveragingHub, AveragingPeer, weighted_mean
from automl_spark.paramserver._client import ParameterClient
from automl_spark.paramserver._server import (
    ParameterServer,
    new_secret,
    staleness_scale,
)
from automl_spark.paramserver._wire import ProtocolError

__all__ = [
    "AveragingHub",
    "AveragingPeer",
    "ParameterClient",
    "ParameterServer",
    "ProtocolError",
    "new_secret",
    "staleness_scale",
    "weighted_mean",
]
