"""The parameter server of the ``spark-async`` backend: server, client and wire protocol.

Only NumPy and the standard library: the server runs on the driver, the client in Spark's
Python workers.
"""

from automl_spark.paramserver._client import ParameterClient
from automl_spark.paramserver._server import (
    ParameterServer,
    new_secret,
    staleness_scale,
)
from automl_spark.paramserver._wire import ProtocolError

__all__ = [
    "ParameterClient",
    "ParameterServer",
    "ProtocolError",
    "new_secret",
    "staleness_scale",
]
