"""What the server tells about itself: Prometheus metrics (requests by route and status, latency,
rows, batches, queue wait, input errors) and one log line per request with its id, never a
feature value."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from automl.serve._errors import INPUT_ERRORS

_SECONDS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
_ROWS = tuple(float(2**n) for n in range(0, 17, 2))
# A caller's request id is echoed when it is short and plain; otherwise one is made.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")

log = logging.getLogger("automl.serve")


class Metrics:
    """The server's Prometheus metrics, in a registry of their own; set the functions of the
    gauges :attr:`queue_depth` and :attr:`model_rows` to read the batcher."""

    def __init__(self) -> None:
        disable_created_metrics()  # no *_created series beside each counter and histogram
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "automl_serve_requests",
            "HTTP requests answered, by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "automl_serve_request_duration_seconds",
            "Time from a request's arrival to its reply, by route.",
            ["route"],
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.rows = Counter("automl_serve_rows", "Rows predicted.", registry=self.registry)
        self.batch_rows = Histogram(
            "automl_serve_batch_rows",
            "Rows per model call (requests gathered by micro-batching).",
            buckets=_ROWS,
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "automl_serve_queue_wait_seconds",
            "Time a request waited for the model.",
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.input_errors = Counter(
            "automl_serve_input_errors",
            "Requests refused for their input (400, 413, 415), by status.",
            ["status"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "automl_serve_queue_depth",
            "Requests waiting for the model now.",
            registry=self.registry,
        )
        self.model_rows = Gauge(
            "automl_serve_model_rows",
            "Rows the model is predicting now (0: idle).",
            registry=self.registry,
        )

    def batch(self, rows: int, waits: list[float]) -> None:
        """Record one model call of ``rows`` rows and its requests' waits in the queue."""
        self.rows.inc(rows)
        self.batch_rows.observe(rows)
        for wait in waits:
            self.queue_wait.observe(wait)

    def answered(self, route: str, method: str, status: int, seconds: float) -> None:
        """Record one answered request."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)
        if status in INPUT_ERRORS:
            self.input_errors.labels(str(status)).inc()

    async def endpoint(self, request: Request) -> Response:
        """``GET /metrics`` in the Prometheus text format."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class Observe:
    """ASGI middleware: gives each request an id (the caller's ``X-Request-Id`` when plain,
    echoed in the reply), then records its metrics and logs one line: id, method, path, route,
    status, rows, milliseconds."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = self._route(scope)
            self.metrics.answered(route, scope["method"], status, seconds)
            rows = scope["state"].get("rows")
            log.info(
                "request_id=%s method=%s path=%s route=%s status=%d rows=%s ms=%.2f",
                request_id,
                scope["method"],
                scope["path"],
                route,
                status,
                "-" if rows is None else rows,
                seconds * 1000,
            )

    def _route(self, scope: Scope) -> str:
        """The route's path template (bounded label values), or ``other``."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return str(getattr(route, "path", "other"))
        return "other"


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(given):
                return given
    return uuid.uuid4().hex


def log_to_stderr() -> None:
    """Send the request log lines to standard error, one plain line each."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
