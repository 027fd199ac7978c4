"""The ASGI application: the routes of both protocols, the page, the metrics, the bearer token on
the prediction and model routes, and every refusal in its protocol's error body."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from automl.errors import UserError
from automl.serve import _mlflow, _oip
from automl.serve._errors import HttpError, inference_error, mlflow_error
from automl.serve._model import ServedModel
from automl.serve._observe import Metrics, Observe

Handler = Callable[[Request], Awaitable[Response]]
ModelHandler = Callable[[Request, ServedModel], Awaitable[Response]]

log = logging.getLogger("automl.serve")


def build_app(model: ServedModel, token: str | None, metrics: Metrics, page: str) -> ASGIApp:
    """The server's application. Health, version, server metadata, the page and the metrics are
    open; with a ``token``, prediction and model metadata need ``Authorization: Bearer``."""

    def mlflow(handler: ModelHandler) -> Handler:
        return _guarded(handler, model, token, mlflow_error)

    def oip(handler: ModelHandler) -> Handler:
        return _guarded(handler, model, token, inference_error)

    async def home(request: Request) -> Response:
        return HTMLResponse(page)

    routes = [
        Route("/", home, methods=["GET"]),
        Route("/ping", _mlflow.ping, methods=["GET"]),
        Route("/health", _mlflow.ping, methods=["GET"]),
        Route("/version", _mlflow.version, methods=["GET"]),
        Route("/invocations", mlflow(_mlflow.invocations), methods=["POST"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        Route("/v2", _oip.server_metadata, methods=["GET"]),
        Route("/v2/health/live", _oip.live, methods=["GET"]),
        Route("/v2/health/ready", _oip.ready, methods=["GET"]),
        Route("/v2/models/{name}", oip(_oip.model_metadata), methods=["GET"]),
        Route("/v2/models/{name}/ready", oip(_oip.model_ready), methods=["GET"]),
        Route("/v2/models/{name}/infer", oip(_oip.infer), methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _unrouted})
    return Observe(app, metrics, routes)


def _guarded(
    handler: ModelHandler,
    model: ServedModel,
    token: str | None,
    render: Callable[[HttpError], JSONResponse],
) -> Handler:
    """``handler`` behind the token, its refusals rendered by ``render``: a :class:`UserError`
    (the line ``automl predict`` prints) is a 400."""

    async def endpoint(request: Request) -> Response:
        try:
            check_token(request, token)
            return await handler(request, model)
        except HttpError as error:
            return render(error)
        except UserError as error:
            return render(HttpError(400, str(error)))
        except Exception as exc:  # a fault of the model or the server: logged, never the input
            log.exception("request_id=%s failed", request.state.request_id)
            return render(
                HttpError(500, f"the server failed on this request: {type(exc).__name__}")
            )

    return endpoint


def check_token(request: Request, token: str | None) -> None:
    """Refuse (401) a request whose bearer token is missing or differs from ``token``, compared
    in constant time; nothing to check when the server has no token."""
    if token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise HttpError(
            401,
            "request: this server needs a token: send Authorization: Bearer TOKEN",
            {"WWW-Authenticate": 'Bearer realm="automl"'},
        )
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise HttpError(
            401,
            "request: the bearer token is wrong",
            {"WWW-Authenticate": 'Bearer realm="automl", error="invalid_token"'},
        )


async def _unrouted(request: Request, exc: Exception) -> Response:
    """An unknown path (404) or method (405), in the error body of the path's protocol."""
    assert isinstance(exc, HTTPException)
    error = HttpError(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")
    error.headers.update(exc.headers or {})
    return inference_error(error) if request.url.path.startswith("/v2") else mlflow_error(error)
