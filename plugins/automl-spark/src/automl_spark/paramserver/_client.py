"""The worker's side of the parameter server: connect, prove the secret, pull and push."""

from __future__ import annotations

import socket
from collections.abc import Sequence

import numpy as np

from automl_spark.paramserver import _wire
from automl_spark.paramserver._wire import Kind, Layout


class ParameterClient:
    """One worker's connection to a :class:`ParameterServer`, open inside a ``with`` block.

    Args:
        address: the server's (host, port).
        secret: the run's secret.
        shapes: the model's weight shapes, in order.
        timeout: seconds any socket operation may take.

    Example::

        with ParameterClient(address, secret, shapes) as client:
            for _ in range(rounds):
                version, weights = client.pull()
                update = ...  # train from weights; update = new weights - weights
                client.push(version, update)
    """

    def __init__(
        self,
        address: tuple[str, int],
        secret: bytes,
        shapes: Sequence[Sequence[int]],
        *,
        timeout: float = 120.0,
    ) -> None:
        self.address = address
        self.layout = Layout(shapes)
        self._secret = secret
        self.timeout = timeout
        self._sock: socket.socket | None = None

    def __enter__(self) -> ParameterClient:
        sock = _wire.connect(self.address, self.timeout)
        try:
            self._handshake(sock)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def pull(self) -> tuple[int, list[np.ndarray]]:
        """The server's version and weights."""
        sock = self._connected()
        _wire.send(sock, Kind.PULL)
        _, version, payload = _wire.receive(sock, {Kind.WEIGHTS: self.layout.nbytes})
        return version, self.layout.split(self.layout.decode(payload))

    def push(self, version: int, update: Sequence[np.ndarray]) -> float:
        """Send an update computed from ``version``; return the scale the server applied it with
        (0 when it was too stale and dropped)."""
        sock = self._connected()
        _wire.send_arrays(sock, Kind.PUSH, version, self.layout, self.layout.flatten(update))
        _, _, payload = _wire.receive(sock, {Kind.ACK: _wire.ACK.size})
        return _wire.ACK.unpack(payload)[0]

    def _connected(self) -> socket.socket:
        if self._sock is None:
            raise RuntimeError("use ParameterClient inside a with block")
        return self._sock

    def _handshake(self, sock: socket.socket) -> None:
        _wire.prove_to_server(sock, self._secret)
