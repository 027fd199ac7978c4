"""The parameter server's wire protocol: a fixed header, then raw little-endian float32 buffers.

Nothing read from the network is ever unpickled. Every message starts with a 24-byte header::

    magic b"AMPS" | protocol u8 | kind u8 | reserved u16 | clock u64 | length u64   (little-endian)

``clock`` is the weights' version (the server's count of applied updates) and ``length`` the
payload's size in bytes. The receiver knows the exact size of every message it accepts (the
model's shapes fix it), so a message of another kind or size is refused from its header alone,
before any of its payload is read. Arrays travel as a shape table (``u32`` array count, then
``u32`` rank and ``u32`` dimensions per array) followed by every array's float32 values in the
model's weight order; a table that differs from the receiver's model is refused.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import hmac
import secrets
import socket
import struct
import time
from collections.abc import Mapping, Sequence

import numpy as np

MAGIC = b"AMPS"
PROTOCOL = 1
HEADER = struct.Struct("<4sBBHQQ")
NONCE_BYTES = 32
PROOF_BYTES = hashlib.sha256().digest_size
ACK = struct.Struct("<d")
REASON_BYTES = 200
_FLOAT = np.dtype("<f4")


class Kind(enum.IntEnum):
    """Message kinds, in the order a connection uses them."""

    CHALLENGE = 1  # server → worker: the server's nonce
    HELLO = 2  # worker → server: the worker's nonce and its proof of the secret
    WELCOME = 3  # server → worker: the server's proof of the secret
    PULL = 4  # worker → server: no payload
    WEIGHTS = 5  # server → worker: clock = version; shape table and weights
    PUSH = 6  # worker → server: clock = version it trained from; shape table and update
    ACK = 7  # server → worker: clock = version now; the scale the update was applied with
    REFUSED = 8  # either way: a short UTF-8 reason; the connection then closes
    CONTRIBUTE = 9  # peer → hub (averaging): clock = rows trained; steps (u64), shapes, state
    MEAN = 10  # hub → peer (averaging): clock = mean steps; shape table and averaged state


class ProtocolError(ConnectionError):
    """The peer sent a message this side refuses, or refused this side's message."""


class Layout:
    """The shapes of a model's weights: their shape table and their size on the wire."""

    def __init__(self, shapes: Sequence[Sequence[int]]) -> None:
        self.shapes = tuple(tuple(int(d) for d in shape) for shape in shapes)
        self.sizes = tuple(int(np.prod(shape, dtype=np.int64)) for shape in self.shapes)
        self.size = sum(self.sizes)
        table = [struct.pack("<I", len(self.shapes))]
        table += [struct.pack(f"<I{len(s)}I", len(s), *s) for s in self.shapes]
        self.table = b"".join(table)
        self.nbytes = len(self.table) + self.size * _FLOAT.itemsize

    def flatten(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """One float32 vector holding ``arrays`` in order; refuses arrays of other shapes."""
        if tuple(np.shape(a) for a in arrays) != self.shapes:
            got = [np.shape(a) for a in arrays]
            raise ValueError(f"weights of shapes {got}, not {self.shapes}")
        return np.concatenate([np.ravel(a) for a in arrays]).astype(_FLOAT, copy=False)

    def split(self, flat: np.ndarray) -> list[np.ndarray]:
        """Views of ``flat`` with the model's shapes."""
        parts = np.split(flat, np.cumsum(self.sizes)[:-1])
        return [part.reshape(shape) for part, shape in zip(parts, self.shapes, strict=True)]

    def decode(self, payload: bytearray | memoryview) -> np.ndarray:
        """The float vector of an arrays payload; refused unless its shape table is the model's."""
        view = memoryview(payload)
        if len(view) != self.nbytes or view[: len(self.table)] != self.table:
            raise ProtocolError("the arrays' shapes do not match the model's")
        return np.frombuffer(view[len(self.table) :], dtype=_FLOAT)


def send(sock: socket.socket, kind: Kind, clock: int = 0, *parts: bytes | memoryview) -> None:
    """Send one message: the header, then each part of the payload (arrays are not copied)."""
    views = [memoryview(p).cast("B") for p in parts]
    sock.sendall(HEADER.pack(MAGIC, PROTOCOL, kind, 0, clock, sum(len(v) for v in views)))
    for view in views:
        sock.sendall(view)


def send_arrays(
    sock: socket.socket, kind: Kind, clock: int, layout: Layout, flat: np.ndarray
) -> None:
    """Send ``flat`` (the model's weights or an update) with the model's shape table."""
    send(sock, kind, clock, layout.table, np.ascontiguousarray(flat, dtype=_FLOAT).data)


def refuse(sock: socket.socket, reason: str) -> None:
    """Tell the peer why it is refused (best effort: it may already be gone)."""
    with contextlib.suppress(OSError):
        send(sock, Kind.REFUSED, 0, reason.encode()[:REASON_BYTES])


def receive(sock: socket.socket, accepted: Mapping[Kind, int]) -> tuple[Kind, int, bytearray]:
    """Read one message whose kind is in ``accepted``, with exactly ``accepted[kind]`` bytes.

    Raises:
        ProtocolError: a bad header, a kind or size not accepted (checked before the payload is
            read), or a REFUSED message from the peer.
        EOFError: the peer closed the connection before a message began.
    """
    header = _read(sock, HEADER.size, allow_eof=True)
    magic, protocol, kind, _, clock, length = HEADER.unpack(header)
    if magic != MAGIC or protocol != PROTOCOL:
        raise ProtocolError("not an automl parameter-server message")
    if kind == Kind.REFUSED and length <= REASON_BYTES:
        reason = bytes(_read(sock, length)).decode("utf-8", "replace")
        raise ProtocolError(f"refused by the peer: {reason}")
    if kind not in accepted:
        raise ProtocolError(f"unexpected message kind {kind}")
    if length != accepted[Kind(kind)]:
        raise ProtocolError(f"a {Kind(kind).name} of {length} bytes, not {accepted[Kind(kind)]}")
    return Kind(kind), clock, _read(sock, length)


def connect(address: tuple[str, int], timeout: float, retry: float = 0.05) -> socket.socket:
    """A connection to ``address``, tried again while nobody listens there yet (the server may
    still be starting in another task), for up to ``timeout`` seconds.

    Raises:
        OSError: no connection within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = socket.create_connection(address, timeout=timeout)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(retry)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def check_worker(conn: socket.socket, secret: bytes) -> None:
    """The serving side of the handshake: challenge the worker, check its proof, prove back.

    Raises:
        ProtocolError: the worker does not know the secret.
    """
    server_nonce = secrets.token_bytes(NONCE_BYTES)
    send(conn, Kind.CHALLENGE, 0, server_nonce)
    _, _, hello = receive(conn, {Kind.HELLO: NONCE_BYTES + PROOF_BYTES})
    worker_nonce, claimed = bytes(hello[:NONCE_BYTES]), bytes(hello[NONCE_BYTES:])
    if not hmac.compare_digest(claimed, proof(secret, b"worker", server_nonce, worker_nonce)):
        raise ProtocolError("authentication failed")
    send(conn, Kind.WELCOME, 0, proof(secret, b"server", server_nonce, worker_nonce))


def prove_to_server(sock: socket.socket, secret: bytes) -> None:
    """The worker's side of the handshake: answer the challenge, check the server's proof.

    Raises:
        ProtocolError: the server does not know the secret.
    """
    _, _, server_nonce = receive(sock, {Kind.CHALLENGE: NONCE_BYTES})
    worker_nonce = secrets.token_bytes(NONCE_BYTES)
    claim = proof(secret, b"worker", bytes(server_nonce), worker_nonce)
    send(sock, Kind.HELLO, 0, worker_nonce + claim)
    _, _, answer = receive(sock, {Kind.WELCOME: PROOF_BYTES})
    expected = proof(secret, b"server", bytes(server_nonce), worker_nonce)
    if not hmac.compare_digest(bytes(answer), expected):
        raise ProtocolError("the server does not know the run's secret")


def proof(secret: bytes, role: bytes, server_nonce: bytes, worker_nonce: bytes) -> bytes:
    """HMAC-SHA256 of both nonces under the run's secret, bound to the prover's role."""
    return hmac.new(secret, role + server_nonce + worker_nonce, hashlib.sha256).digest()


def _read(sock: socket.socket, size: int, allow_eof: bool = False) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    done = 0
    while done < size:
        got = sock.recv_into(view[done:])
        if got == 0:
            if allow_eof and done == 0:
                raise EOFError("the peer closed the connection")
            raise ProtocolError(f"the connection closed after {done} of {size} bytes")
        done += got
    return buffer
