"""The parameter server over real loopback sockets: honest workers, hostile bytes, no leaks."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

import numpy as np
import pytest

from automl_spark.paramserver import (
    AveragingHub,
    AveragingPeer,
    ParameterClient,
    ParameterServer,
    ProtocolError,
    _wire,
    new_secret,
    staleness_scale,
)

WEIGHTS = [np.zeros((3, 2), np.float32), np.zeros(2, np.float32)]
SHAPES = [w.shape for w in WEIGHTS]
ONES = [np.ones_like(w) for w in WEIGHTS]


@pytest.fixture
def secret() -> bytes:
    return new_secret()


def _client(server: ParameterServer, secret: bytes, shapes=SHAPES) -> ParameterClient:
    return ParameterClient(server.address, secret, shapes, timeout=5)


def _push(client: ParameterClient, version: int, update=ONES) -> float:
    return client.push(version, update)


def _serves_an_honest_worker(server: ParameterServer, secret: bytes) -> None:
    with _client(server, secret) as client:
        version, weights = client.pull()
        assert [w.shape for w in weights] == SHAPES
        assert _push(client, version) == 1.0


def test_pull_and_push_round_trip(secret: bytes) -> None:
    start = [np.arange(6, dtype=np.float32).reshape(3, 2), np.array([7, 8], np.float32)]
    with ParameterServer(start, secret=secret) as server, _client(server, secret) as client:
        version, weights = client.pull()
        assert version == 0
        for got, want in zip(weights, start, strict=True):
            np.testing.assert_array_equal(got, want)
        assert _push(client, version) == 1.0
        version, weights = client.pull()
        assert version == 1
        np.testing.assert_array_equal(weights[1], [8, 9])
        assert (server.applied, server.dropped, server.refused) == (1, 0, 0)


def test_stale_updates_are_scaled_then_dropped(secret: bytes) -> None:
    assert [staleness_scale(s, 2) for s in range(4)] == [1.0, 0.5, 1 / 3, 0.0]
    with ParameterServer(WEIGHTS, secret=secret, max_staleness=1) as server:
        with _client(server, secret) as first, _client(server, secret) as second:
            assert _push(first, 0) == 1.0
            assert _push(first, 1) == 1.0
            assert _push(second, 1) == 0.5  # one version behind
            assert _push(second, 0) == 0.0  # three behind: dropped
        np.testing.assert_allclose(server.weights()[0], 2.5)
        assert server.version == 3
        assert (server.applied, server.dropped) == (3, 1)


def test_a_wrong_secret_is_refused(secret: bytes) -> None:
    with ParameterServer(WEIGHTS, secret=secret) as server:
        with pytest.raises(ProtocolError, match="authentication failed"):
            _client(server, new_secret()).__enter__()
        _serves_an_honest_worker(server, secret)
        assert server.refused == 1


def test_a_server_without_the_secret_is_refused_by_the_worker(secret: bytes) -> None:
    with socket.create_server(("127.0.0.1", 0)) as impostor:

        def pretend() -> None:  # answers the handshake without knowing the secret
            conn, _ = impostor.accept()
            with conn:
                _wire.send(conn, _wire.Kind.CHALLENGE, 0, bytes(_wire.NONCE_BYTES))
                conn.recv(_wire.HEADER.size + _wire.NONCE_BYTES + _wire.PROOF_BYTES)
                _wire.send(conn, _wire.Kind.WELCOME, 0, bytes(_wire.PROOF_BYTES))

        thread = threading.Thread(target=pretend)
        thread.start()
        client = ParameterClient(impostor.getsockname(), secret, SHAPES, timeout=5)
        with pytest.raises(ProtocolError, match="does not know the run's secret"):
            client.__enter__()
        thread.join(5)


def test_garbage_bytes_are_refused(secret: bytes) -> None:
    with ParameterServer(WEIGHTS, secret=secret) as server:
        with socket.create_connection(server.address, timeout=5) as raw:
            raw.recv(_wire.HEADER.size + _wire.NONCE_BYTES)
            raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)))
            _drain(raw)
        _serves_an_honest_worker(server, secret)
        assert server.refused == 1


def test_an_oversized_message_is_refused_before_it_is_read(secret: bytes) -> None:
    with ParameterServer(WEIGHTS, secret=secret) as server:
        with _client(server, secret) as client:
            header = _wire.HEADER.pack(_wire.MAGIC, _wire.PROTOCOL, _wire.Kind.PUSH, 0, 0, 1 << 40)
            started = time.monotonic()
            client._sock.sendall(header)  # a terabyte announced, none of it sent
            with pytest.raises(ProtocolError, match="PUSH of 1099511627776 bytes"):
                _wire.receive(client._sock, {_wire.Kind.ACK: _wire.ACK.size})
            assert time.monotonic() - started < 2
        _serves_an_honest_worker(server, secret)
        np.testing.assert_array_equal(server.weights()[0], 1.0)


@pytest.mark.parametrize("shapes", [[(2, 3), (2,)], [(3, 2), (3,)], [(6,), (2,)]])
def test_a_wrong_shape_is_refused(secret: bytes, shapes) -> None:
    with ParameterServer(WEIGHTS, secret=secret) as server:
        # refused from the header when the size differs: the worker may see a reset then
        with _client(server, secret, shapes) as client, pytest.raises(ConnectionError):
            _push(client, 0, [np.ones(s, np.float32) for s in shapes])
        _serves_an_honest_worker(server, secret)
        np.testing.assert_array_equal(server.weights()[0], 1.0)  # only the honest update
        assert server.refused == 1


def test_a_silent_connection_times_out_and_the_server_goes_on(secret: bytes) -> None:
    with ParameterServer(WEIGHTS, secret=secret, timeout=0.3) as server:
        with socket.create_connection(server.address, timeout=5) as raw:
            assert b"timed out" in _drain(raw)  # never answers the challenge
        _serves_an_honest_worker(server, secret)


def test_connections_beyond_the_limit_are_refused(secret: bytes) -> None:
    with ParameterServer(WEIGHTS, secret=secret, max_connections=1) as server:
        with _client(server, secret), pytest.raises(ProtocolError, match="too many"):
            _client(server, secret).__enter__()
        deadline = time.monotonic() + 5
        while server.open_connections and time.monotonic() < deadline:
            time.sleep(0.01)
        _serves_an_honest_worker(server, secret)


@pytest.mark.parametrize("hogwild", [False, True])
def test_concurrent_workers(secret: bytes, hogwild: bool) -> None:
    workers, pushes = 4, 25
    scales: list[float] = []

    def work() -> None:
        with _client(server, secret) as client:
            for _ in range(pushes):
                version, _ = client.pull()
                scales.append(_push(client, version))

    with ParameterServer(WEIGHTS, secret=secret, hogwild=hogwild, max_staleness=2) as server:
        threads = [threading.Thread(target=work) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        final = server.weights()
    assert len(scales) == workers * pushes
    assert server.applied + server.dropped == workers * pushes
    assert server.applied == sum(scale > 0 for scale in scales)
    if hogwild:  # unlocked adds may interleave; the weights stay sane
        assert 0 < final[0].min() <= final[0].max() <= sum(scales) + 1e-3
    else:  # with the lock, the weights are exactly the sum of the applied scales
        np.testing.assert_allclose(final[0], sum(scales), rtol=1e-5)
        assert server.version == server.applied


def test_closing_leaves_no_thread_and_frees_the_port(secret: bytes) -> None:
    before = set(threading.enumerate())
    with ParameterServer(WEIGHTS, secret=secret) as server:
        port = server.address[1]
        idle = _client(server, secret).__enter__()  # still connected when the server closes
        _serves_an_honest_worker(server, secret)
        started = time.monotonic()
    assert time.monotonic() - started < 2
    idle.__exit__()
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    with socket.socket() as probe:  # the cut connection's TIME_WAIT is normal TCP
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen()


def test_the_server_closes_when_training_fails(secret: bytes) -> None:
    before = set(threading.enumerate())
    with pytest.raises(ZeroDivisionError), ParameterServer(WEIGHTS, secret=secret) as server:
        address = server.address
        with _client(server, secret) as client:
            client.pull()
            1 / 0  # noqa: B018 - training fails mid-fold
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=5)


def _drain(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection (a reset may cut it short)."""
    sock.settimeout(5)
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def test_the_header_layout_is_fixed() -> None:
    assert _wire.HEADER.size == 24
    layout = _wire.Layout(SHAPES)
    assert layout.table == struct.pack("<IIIII I", 2, 2, 3, 2, 1, 2)
    assert layout.nbytes == len(layout.table) + 8 * 4


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_hub_averages_every_round_by_rows_and_each_peer_gets_the_mean(secret: bytes) -> None:
    """Three tasks over loopback: states weighted by the rows each trained (a task with no rows
    counts for nothing), the same mean back to every peer, two rounds on one connection."""
    port = _free_port()
    got: dict[str, list] = {"fours": [], "idle": []}

    def peer(name: str, state: np.ndarray, rows: int, steps: int) -> None:
        exchange = AveragingPeer(("127.0.0.1", port), secret, size=3, timeout=5)
        try:
            for _ in range(2):
                got[name].append(exchange.average(state, rows, steps))
        finally:
            exchange.close()

    threads = [
        threading.Thread(target=peer, args=("fours", np.full(3, 4.0, np.float32), 1, 4)),
        threading.Thread(target=peer, args=("idle", np.full(3, 99.0, np.float32), 0, 0)),
    ]
    for thread in threads:
        thread.start()  # the peers wait for the hub to listen
    hub = AveragingHub("127.0.0.1", port, secret, size=3, peers=2, timeout=5)
    try:
        rounds = [hub.average(np.ones(3, np.float32), 2, 1) for _ in range(2)]
    finally:
        for thread in threads:
            thread.join(10)
        hub.close()
    for mean, steps in rounds + got["fours"] + got["idle"]:
        np.testing.assert_allclose(mean, [2.0, 2.0, 2.0])  # (2 * 1 + 1 * 4) / 3
        assert steps == 2  # (2 * 1 + 1 * 4) / 3, rounded


def test_the_hub_refuses_a_peer_without_the_secret(secret: bytes) -> None:
    port = _free_port()
    errors: list[BaseException] = []

    def intruder() -> None:
        try:
            AveragingPeer(("127.0.0.1", port), new_secret(), size=3, timeout=5)
        except (ProtocolError, OSError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=intruder)
    thread.start()
    try:
        with pytest.raises(ProtocolError, match="authentication failed"):
            AveragingHub("127.0.0.1", port, secret, size=3, peers=1, timeout=5)
    finally:
        thread.join(10)
    assert errors  # the intruder learned nothing: its handshake failed too
