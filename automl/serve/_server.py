"""Running the server: the socket bound before anything heavy loads, the model loaded, traced and
warmed up, then uvicorn on that socket; ready once the address is printed and the port file
written; SIGTERM drains the requests in flight and exits 0."""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType

import pandas as pd
import sklearn
import uvicorn
from threadpoolctl import threadpool_limits

from automl._files import write_text
from automl.errors import UserError
from automl.results import ModelBundle
from automl.serve._app import build_app
from automl.serve._batcher import Batcher
from automl.serve._model import JSON_BODY, ServedModel
from automl.serve._observe import Metrics, log_to_stderr
from automl.serve._page import model_page
from automl.serve._settings import Settings
from automl.serve._source import ModelSource

WARM_UP_ROWS = (1, 2, 3, 8, 32, 128, 512, 1, 1)  # a traced graph's first calls of a size cost most
DRAIN_SECONDS = 30  # the longest SIGTERM waits for requests in flight
BACKLOG = 2048


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0: a free one), or a one-line
    :class:`UserError`. Bound before the model loads, so a busy port fails in a moment."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise UserError(f"--host {host}: not an address of this machine ({exc})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        hint = "; pick another --port, or --port 0 for a free one" * (exc.errno == errno.EADDRINUSE)
        raise UserError(f"{host}:{port}: cannot listen: {exc.strerror}{hint}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    """The ``http://host:port`` a bound socket answers on."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run(source: ModelSource, settings: Settings, sock: socket.socket) -> None:
    """Load the model, warm it up, and serve on ``sock`` until SIGTERM or Ctrl-C.

    The process's SIGTERM handler is this function's from then on: before and after serving,
    when no request is in flight, SIGTERM exits 0 at once; while serving, it drains first.
    """
    signal.signal(signal.SIGTERM, _exit_now)
    try:
        bundle = ModelBundle.load(source.bundle)
        bundle.trace()
        # One model thread calls the models: OpenMP teams (gradient boosting's) only contend with
        # TensorFlow's threads and other processes; on a busy 2-core machine a stacked bundle's
        # row took 1.2 s with them and 0.09 s without.
        threadpool_limits(1, user_api="openmp")
        batcher = Batcher(
            _predictor(bundle),
            max_queue=settings.limits.max_queue,
            batch_rows=settings.limits.batch_rows,
        )
        model = ServedModel(bundle, settings.model_name, batcher, settings.limits)
        batcher.start()
        try:
            asyncio.run(_warm_up(model))
            metrics = Metrics()  # counts requests only, not the warm-up
            batcher.on_batch = metrics.batch
            metrics.queue_depth.set_function(lambda: batcher.waiting)
            metrics.model_rows.set_function(lambda: batcher.running_rows)
            page = model_page(bundle, source.path, model_name=settings.model_name)
            app = build_app(model, settings.token, metrics, page)
            log_to_stderr()
            _serve(app, sock, lambda: _announce(settings, sock))
        finally:
            batcher.stop()
    finally:
        sock.close()


def _predictor(bundle: ModelBundle) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """The bundle's prediction frame of checked rows, without scikit-learn's validation of its
    parameters and of finite values (the rows were checked on arrival): a part of the cost of a
    one-row call."""

    def predict(features: pd.DataFrame) -> pd.DataFrame:
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return bundle.prediction_frame(features)

    return predict


async def _warm_up(model: ServedModel) -> None:
    """Predict typical rows at several batch sizes through the whole path a request takes, so
    the first requests pay no tracing or first-call costs."""
    for rows in WARM_UP_ROWS:
        table = pd.DataFrame([model.bundle.example_row] * rows)
        frame = await model.predict(table, JSON_BODY)
        frame.to_csv(index=False)
        frame.to_dict(orient="records")


def _serve(app: Callable, sock: socket.socket, on_ready: Callable[[], None]) -> None:
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=DRAIN_SECONDS,
    )
    server = _Server(config, on_ready)

    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True  # uvicorn's own handler does this while it runs

    # uvicorn handles SIGTERM and SIGINT while it runs (stops accepting, drains, returns), then
    # gives each back to the handler it found and raises it again: that handler must not kill.
    signal.signal(signal.SIGTERM, stop)
    previous_int = signal.signal(signal.SIGINT, stop)
    try:
        server.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, _exit_now)
        signal.signal(signal.SIGINT, previous_int)


class _Server(uvicorn.Server):
    """uvicorn's server, calling ``on_ready`` once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_ready()


def _announce(settings: Settings, sock: socket.socket) -> None:
    """Print the address, then write the port file: the signs that the server is ready."""
    print(f"Serving {settings.model_name} on {url_of(sock)}", flush=True)
    if settings.port_file is not None:
        write_text(settings.port_file, f"{sock.getsockname()[1]}\n")


def _exit_now(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)
