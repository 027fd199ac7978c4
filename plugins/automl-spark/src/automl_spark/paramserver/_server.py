"""A parameter server for asynchronous training: it holds the weights, workers pull and push.

The server runs on the driver in threads of its own; a :class:`ParameterClient` runs in each
worker. Every connection first proves it knows the run's secret (HMAC-SHA256 over a nonce from
each side, compared in constant time); the worker then sends PULL and PUSH messages (see
:mod:`automl_spark.paramserver._wire`). Nothing from the network is unpickled, every socket
operation has a timeout, and leaving the ``with`` block stops the server, closes its sockets
and joins its threads, also when training failed.

Staleness rule: an update computed from version ``v`` arriving when the server is at version
``v + s`` is applied scaled by ``1 / (1 + s)``, and dropped when ``s > max_staleness``. In
hogwild mode updates are added to the weights without a lock, so concurrent updates and pulls
may interleave (a pulled copy may mix two versions).
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from automl_spark.paramserver import _wire
from automl_spark.paramserver._wire import Kind, Layout, ProtocolError


def staleness_scale(staleness: int, max_staleness: int) -> float:
    """The factor an update ``staleness`` versions old is applied with (0: dropped)."""
    return 0.0 if staleness > max_staleness else 1.0 / (1 + max(staleness, 0))


class ParameterServer:
    """Serve ``weights`` (float32 arrays) to authenticated workers until the ``with`` block ends.

    Args:
        weights: the initial weights; their shapes are the only ones accepted.
        secret: the run's shared secret (``new_secret()``); workers must prove they hold it.
        host: the address to bind; loopback by default.
        port: the port to bind; 0 lets the system choose (see :attr:`address`).
        hogwild: apply updates without a lock.
        max_staleness: updates older than this many versions are dropped.
        timeout: seconds any socket operation may take, including the wait for a worker's next
            message (so longer than a worker trains between two messages).
        max_connections: connections served at once; more are refused.

    Example::

        with ParameterServer(model.get_weights(), secret=secret) as server:
            run_workers(server.address, secret)
            model.set_weights(server.weights())
    """

    def __init__(
        self,
        weights: Sequence[np.ndarray],
        *,
        secret: bytes,
        host: str = "127.0.0.1",
        port: int = 0,
        hogwild: bool = False,
        max_staleness: int = 8,
        timeout: float = 120.0,
        max_connections: int = 64,
    ) -> None:
        self.layout = Layout([np.shape(w) for w in weights])
        self._flat = self.layout.flatten(weights).copy()
        self._secret = secret
        self.bind_address = (host, port)
        self.hogwild = hogwild
        self.max_staleness = max_staleness
        self.timeout = timeout
        self.max_connections = max_connections
        self.version = 0
        self.applied = self.dropped = self.refused = 0
        self._lock = threading.Lock()  # weights (unless hogwild)
        self._count_lock = threading.Lock()  # version, counters and the connection set
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._threads: set[threading.Thread] = set()
        self._connections: set[socket.socket] = set()
        self._departed = threading.Condition()  # guards the count of workers done and gone
        self.departed = 0

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port), for workers to connect to."""
        if self._listener is None:
            raise RuntimeError("the parameter server is not running")
        host, port = self._listener.getsockname()[:2]
        return host, port

    def wait_for_departures(self, workers: int, timeout: float) -> bool:
        """Wait until ``workers`` authenticated workers have closed their connections (each is
        done with the epoch); whether they did within ``timeout`` seconds."""
        with self._departed:
            return self._departed.wait_for(lambda: self.departed >= workers, timeout)

    @property
    def open_connections(self) -> int:
        """Connections being served now."""
        with self._count_lock:
            return len(self._connections)

    def __enter__(self) -> ParameterServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Bind, listen and start serving; :meth:`close` (or the ``with`` block) stops it."""
        family = socket.AF_INET6 if ":" in self.bind_address[0] else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(self.bind_address)
            listener.listen(self.max_connections)
            listener.settimeout(0.1)  # how often the accept loop looks for the stop signal
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self._acceptor = self._start(self._accept_loop, "automl-paramserver-accept")

    def close(self) -> None:
        """Stop accepting, cut every open connection and join the server's threads."""
        self._stopping.set()
        if self._acceptor is not None:
            self._acceptor.join()  # it sees the stop within its accept timeout
        if self._listener is not None:
            self._listener.close()
        with self._count_lock:  # no connection can be added any more
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            threads = list(self._threads)
        for thread in threads:
            thread.join(self.timeout)

    def weights(self) -> list[np.ndarray]:
        """A copy of the current weights."""
        with self._lock:
            flat = self._flat.copy()
        return self.layout.split(flat)

    def _start(self, target: Callable[..., None], name: str, *args: Any) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(target, *args), name=name, daemon=True)
        with self._count_lock:
            self._threads.add(thread)
        thread.start()
        return thread

    def _run(self, target: Callable[..., None], *args: Any) -> None:
        try:
            target(*args)
        finally:
            with self._count_lock:
                self._threads.discard(threading.current_thread())

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(self.timeout)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._count_lock:
                full = len(self._connections) >= self.max_connections
                if not full:
                    self._connections.add(conn)
            if full:
                _wire.refuse(conn, "too many connections")
                conn.close()
                self._note_refused()
                continue
            self._start(self._serve, f"automl-paramserver-{conn.fileno()}", conn)

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._authenticate(conn)
            while not self._stopping.is_set():
                self._answer(conn)
        except EOFError:  # the worker is done: it closed its connection between messages
            with self._departed:
                self.departed += 1
                self._departed.notify_all()
        except (ProtocolError, OSError) as exc:
            if not self._stopping.is_set():
                self._note_refused()
                _wire.refuse(conn, str(exc))
        finally:
            with self._count_lock:
                self._connections.discard(conn)
            conn.close()

    def _authenticate(self, conn: socket.socket) -> None:
        _wire.check_worker(conn, self._secret)

    def _answer(self, conn: socket.socket) -> None:
        accepted = {Kind.PULL: 0, Kind.PUSH: self.layout.nbytes}
        kind, clock, payload = _wire.receive(conn, accepted)
        if kind == Kind.PULL:
            with self._maybe_locked():
                version, flat = self.version, self._flat.copy()
            _wire.send_arrays(conn, Kind.WEIGHTS, version, self.layout, flat)
            return
        scale = self._apply(clock, np.array(self.layout.decode(payload)))
        _wire.send(conn, Kind.ACK, self.version, _wire.ACK.pack(scale))

    def _apply(self, base: int, update: np.ndarray) -> float:
        with self._maybe_locked():
            scale = staleness_scale(self.version - base, self.max_staleness)
            if scale:
                update *= scale
                self._flat += update
            with self._count_lock:
                self.version += scale > 0
                self.applied += scale > 0
                self.dropped += scale == 0
        return scale

    def _note_refused(self) -> None:
        with self._count_lock:
            self.refused += 1

    def _maybe_locked(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext() if self.hogwild else self._lock


def new_secret() -> bytes:
    """A fresh per-run secret for :class:`ParameterServer` and its workers."""
    return secrets.token_bytes(32)
