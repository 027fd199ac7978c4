"""The prediction server behind ``automl serve``: a bundle (or a run's best bundle) answering over
HTTP in the conventions existing clients speak (MLflow's scoring server, the Open Inference
Protocol v2), with micro-batching, limits, an optional bearer token, Prometheus metrics, a page
at ``/``, and a drain on SIGTERM.

Start-up order matters: :func:`find_model` checks the bundle and :func:`bind` takes the port
before :func:`run` loads TensorFlow, so a bad bundle or a busy port is refused in a moment.
"""

from automl.serve._server import bind, run, url_of
from automl.serve._settings import TOKEN_VARIABLE, Limits, Settings, is_loopback, read_token
from automl.serve._source import ModelSource, find_model

__all__ = [
    "TOKEN_VARIABLE",
    "Limits",
    "ModelSource",
    "Settings",
    "bind",
    "find_model",
    "is_loopback",
    "read_token",
    "run",
    "url_of",
]
