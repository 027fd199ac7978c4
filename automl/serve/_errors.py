"""Refused requests: the HTTP status, the one-line message, and the two error bodies the
protocols define (MLflow's scoring server; the Open Inference Protocol)."""

from __future__ import annotations

from starlette.responses import JSONResponse

# MLflow's error codes for the statuses this server answers (its ERROR_CODE_TO_HTTP_STATUS);
# 413 and 415 have none there, so the closest is used.
_ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    404: "RESOURCE_DOES_NOT_EXIST",
    405: "BAD_REQUEST",
    413: "RESOURCE_EXHAUSTED",
    415: "BAD_REQUEST",
    503: "TEMPORARILY_UNAVAILABLE",
}
# The statuses a caller's input earns (counted as input errors in the metrics).
INPUT_ERRORS = frozenset({400, 413, 415})


class HttpError(Exception):
    """A request refused with ``status`` and a one-line ``message`` (plus ``headers``)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def mlflow_error(error: HttpError) -> JSONResponse:
    """MLflow's error body: ``{"error_code": ..., "message": ...}``."""
    body = {
        "error_code": _ERROR_CODES.get(error.status, "INTERNAL_ERROR"),
        "message": error.message,
    }
    return JSONResponse(body, error.status, error.headers)


def inference_error(error: HttpError) -> JSONResponse:
    """The Open Inference Protocol's error body: ``{"error": ...}``."""
    return JSONResponse({"error": error.message}, error.status, error.headers)
