"""Averaging among the tasks of a synchronous epoch, through task 0, without Spark's barrier calls.

Every round of ``spark-sync`` ends with each task's state averaged over all tasks, weighted by
the rows each trained. Spark's ``BarrierTaskContext.allGather`` could carry the states, but it
polls for completion once a second, which would cost a second a round. Instead task 0 holds an
:class:`AveragingHub` on its executor and every other task an :class:`AveragingPeer`: each round
a peer sends its rows, steps and state; the hub adds its own, takes the weighted mean and sends
it back. Connections prove the run's secret as the parameter server's do, and states travel as
raw float32 behind the same fixed header (:mod:`automl_spark.paramserver._wire`); nothing from
the network is unpickled. A hub or peer that fails fails its task, and with it the epoch.
"""

from __future__ import annotations

import socket
import struct

import numpy as np

from automl_spark.paramserver import _wire
from automl_spark.paramserver._wire import Kind, Layout, ProtocolError

_STEPS = struct.Struct("<Q")


def weighted_mean(vectors: list[np.ndarray], weights: list[int]) -> np.ndarray:
    """The weighted mean of equally long state vectors, as float32."""
    total = np.zeros_like(vectors[0], dtype=np.float64)
    for vector, weight in zip(vectors, weights, strict=True):
        total += np.float64(weight) * vector
    return (total / float(sum(weights))).astype(np.float32)


class AveragingHub:
    """Task 0's side: listens on ``(host, port)``, admits ``peers`` tasks, then averages each
    round.

    Every task of the barrier job starts at once, so the hub admits its peers (each proves the
    secret) when it is made, before anyone trains: a peer never waits for task 0's first round
    to be let in.

    Args:
        host, port: the address to bind (the driver chose the port; the peers know both).
        secret: the run's secret.
        size: the length of the state vector.
        peers: how many other tasks take part.
        timeout: seconds any socket operation may take (a peer's training between two rounds
            included).
    """

    def __init__(
        self, host: str, port: int, secret: bytes, size: int, peers: int, timeout: float
    ) -> None:
        self.layout = Layout([(size,)])
        self._secret, self._timeout = secret, timeout
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind((host, port))
            self._listener.listen(max(1, peers))
            self._listener.settimeout(timeout)
        except BaseException:
            self._listener.close()
            raise
        self._connections: list[socket.socket] = []
        try:
            while len(self._connections) < peers:
                self._connections.append(self._accept())
        except BaseException:
            self.close()
            raise

    def average(self, state: np.ndarray, rows: int, steps: int) -> tuple[np.ndarray, int]:
        """This round's ``(mean state, mean steps)`` over this task's part and every peer's."""
        accepted = {Kind.CONTRIBUTE: _STEPS.size + self.layout.nbytes}
        states, counts, taken = [state], [rows], [steps]
        for conn in self._connections:
            _, count, payload = _wire.receive(conn, accepted)
            states.append(self.layout.decode(memoryview(payload)[_STEPS.size :]))
            counts.append(count)
            taken.append(_STEPS.unpack_from(payload)[0])
        mean, mean_steps = _mean(states, counts, taken, state)
        for conn in self._connections:
            _wire.send_arrays(conn, Kind.MEAN, mean_steps, self.layout, mean)
        return mean, mean_steps

    def close(self) -> None:
        """Close every connection and the listener."""
        for conn in self._connections:
            conn.close()
        self._listener.close()

    def _accept(self) -> socket.socket:
        conn, _ = self._listener.accept()
        conn.settimeout(self._timeout)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            _wire.check_worker(conn, self._secret)
        except ProtocolError as exc:
            _wire.refuse(conn, str(exc))
            conn.close()
            raise
        except BaseException:
            conn.close()
            raise
        return conn


class AveragingPeer:
    """Any other task's side: connects to the hub (waiting for it to listen), then each round
    sends its part and receives the mean."""

    def __init__(self, address: tuple[str, int], secret: bytes, size: int, timeout: float) -> None:
        self.layout = Layout([(size,)])
        self._sock = _wire.connect(address, timeout)
        try:
            _wire.prove_to_server(self._sock, secret)
        except BaseException:
            self._sock.close()
            raise

    def average(self, state: np.ndarray, rows: int, steps: int) -> tuple[np.ndarray, int]:
        """Send this task's part of the round; the hub's ``(mean state, mean steps)``."""
        flat = np.ascontiguousarray(state, dtype=np.float32)
        _wire.send(
            self._sock, Kind.CONTRIBUTE, rows, _STEPS.pack(steps), self.layout.table, flat.data
        )
        _, mean_steps, payload = _wire.receive(self._sock, {Kind.MEAN: self.layout.nbytes})
        return np.array(self.layout.decode(payload)), mean_steps

    def close(self) -> None:
        """Close the connection."""
        self._sock.close()


def _mean(
    states: list[np.ndarray], rows: list[int], steps: list[int], fallback: np.ndarray
) -> tuple[np.ndarray, int]:
    """States averaged by the rows each trained, and the mean steps; tasks that trained no rows
    count for nothing (when none did, ``fallback`` stays)."""
    kept = [i for i, count in enumerate(rows) if count]
    if not kept:
        return fallback, 0
    mean = weighted_mean([states[i] for i in kept], [rows[i] for i in kept])
    total = sum(rows[i] for i in kept)
    return mean, round(sum(steps[i] * rows[i] for i in kept) / total)
