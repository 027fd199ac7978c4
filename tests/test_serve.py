"""``automl serve``: a real server process on a free loopback port, driven by a real HTTP client.

One server (with a token and small limits) answers most tests; a second one, without a token and
with room for one waiting request, shows the full queue and the drain on SIGTERM. The model is a
tiny real Keras bundle trained on the bad-input corpus's good ``train.csv``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from serving import CORPUS, TEST, Server, build_bundle

from automl.cli import cli
from automl.results import ModelBundle
from automl.serve import is_loopback

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_BODY = 2_000_000
MAX_ROWS = 200_000
CSV = {"Content-Type": "text/csv"}
CLASSES = ["a", "b"]
BUSY_ROWS = 90_000  # keep the model busy for a while (within the default --max-rows)
WIDE = (512, 512)  # about a second for BUSY_ROWS on 2 cores, however fast the rest of the path


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("serve") / "best", hidden_units=WIDE)


@pytest.fixture(scope="module")
def bundle(bundle_dir: Path) -> ModelBundle:
    return ModelBundle.load(bundle_dir)


@pytest.fixture(scope="module")
def server(bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    limits = ["--max-body-bytes", str(MAX_BODY), "--max-rows", str(MAX_ROWS)]
    folder = tmp_path_factory.mktemp("server")
    env = {"AUTOML_SERVE_TOKEN": TOKEN}
    with Server(bundle_dir, folder, *limits, "--model-name", "tiny", env=env) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as session:
        yield session


def expected_proba(bundle: ModelBundle, table: pd.DataFrame) -> np.ndarray:
    """What the bundle itself predicts for ``table``'s rows, in this process."""
    features = table[list(bundle.schema.columns)].astype({"x1": float})
    return bundle.predict_proba(features)


def predictions(reply: httpx.Response) -> pd.DataFrame:
    assert reply.status_code == 200, reply.text
    return pd.DataFrame(reply.json()["predictions"])


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    """The sum of a metric's samples named ``name`` with ``labels``, read from ``/metrics``."""
    text = client.get("/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def wait_for(client: httpx.Client, name: str, request: Future) -> None:
    """Poll ``/metrics`` until gauge ``name`` is above 0, while ``request`` is unanswered."""
    deadline = time.monotonic() + 30
    while metric(client, name) <= 0:
        assert not request.done(), request.result().text
        assert time.monotonic() < deadline, f"{name} stayed 0"
        time.sleep(0.005)


def big_csv(rows: int) -> bytes:
    """``rows`` rows to predict, cheap to send and slow enough to keep the model busy a while."""
    return b"x1,colour\n" + b"1,red\n" * rows


# --- start-up ---------------------------------------------------------------------------------


def test_ready_prints_the_address_and_writes_the_port(server: Server) -> None:
    assert server.output() == f"Serving tiny on http://127.0.0.1:{server.port}\n"
    assert server.port_file.read_text() == f"{server.port}\n"


def test_only_loopback_addresses_count_as_private() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert not is_loopback("example.org")


def serve_and_fail(*args: str) -> list[str]:
    """Run ``automl serve ARGS`` expecting exit status 2; its standard error's lines. TensorFlow
    would print its start-up lines here (their level is lowered), so one line also shows that
    the refusal came before TensorFlow loaded."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"}
    command = [sys.executable, "-m", "automl", "serve", *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    return done.stderr.splitlines()


def test_a_busy_port_exits_2_in_one_line(bundle_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        lines = serve_and_fail(str(bundle_dir), "--port", str(port))
    assert lines == [
        f"Error: 127.0.0.1:{port}: cannot listen: Address already in use; pick another --port, "
        "or --port 0 for a free one"
    ]


def test_a_damaged_bundle_exits_2_in_one_line(bundle_dir: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged"
    shutil.copytree(bundle_dir, damaged)
    with (damaged / "model.keras").open("ab") as model:
        model.write(b"\0")
    lines = serve_and_fail(str(damaged), "--port", "0")
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Error: {damaged}: damaged model bundle: model.keras does not ")


# --- predictions --------------------------------------------------------------------------------


def test_every_input_form_returns_the_bundles_probabilities(
    client: httpx.Client, bundle: ModelBundle
) -> None:
    table = pd.read_csv(TEST)
    expected = expected_proba(bundle, table)
    labels = np.array(CLASSES)[expected.argmax(axis=1)].tolist()
    records = table.to_dict(orient="records")
    split = {"columns": list(table.columns), "data": table.to_numpy(dtype=object).tolist()}
    forms = {
        "dataframe_split": {"dataframe_split": split},
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "inputs": {"inputs": table.to_dict(orient="list")},
        "rows in order": {"instances": table[["x1", "colour"]].to_numpy(dtype=object).tolist()},
    }
    for form, document in forms.items():
        rows = predictions(client.post("/invocations", json=document))
        np.testing.assert_allclose(rows[CLASSES].to_numpy(), expected, atol=1e-6, err_msg=form)
        assert rows["label"].tolist() == labels, form
        if form != "rows in order":
            assert list(rows.columns) == ["id", "label", *CLASSES], form
            assert rows["id"].tolist() == table["id"].tolist(), form
    rows = predictions(client.post("/invocations", content=TEST.read_bytes(), headers=CSV))
    np.testing.assert_allclose(rows[CLASSES].to_numpy(), expected, atol=1e-6)
    last = {"x1": float(table["x1"].iloc[-1]), "colour": str(table["colour"].iloc[-1])}
    one = predictions(client.post("/invocations", json={"inputs": last}))  # one row's values
    np.testing.assert_allclose(one[CLASSES].to_numpy(), expected[-1:], atol=1e-6)


def test_the_csv_reply_is_what_automl_predict_writes(
    client: httpx.Client, bundle_dir: Path
) -> None:
    written = CliRunner().invoke(cli, ["predict", str(bundle_dir), str(TEST)])
    assert written.exit_code == 0, written.output
    accept = {"Accept": "text/csv"}
    from_csv = client.post("/invocations", content=TEST.read_bytes(), headers={**CSV, **accept})
    table = pd.read_csv(TEST)
    document = {"dataframe_records": table.to_dict(orient="records")}
    from_json = client.post("/invocations", json=document, headers=accept)
    for reply in (from_csv, from_json):
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"].startswith("text/csv")
        assert reply.text == written.stdout


def test_json_replies_are_plain_json(client: httpx.Client) -> None:
    reply = client.post("/invocations", json={"inputs": {"x1": 1, "colour": "red"}})
    assert reply.headers["content-type"] == "application/json"
    assert set(json.loads(reply.text)) == {"predictions"}


def test_the_open_inference_protocol(client: httpx.Client, bundle: ModelBundle) -> None:
    assert client.get("/v2").json()["name"] == "automl"
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200
    assert client.get("/v2/models/tiny/ready").json() == {"name": "tiny", "ready": True}
    metadata = client.get("/v2/models/tiny").json()
    assert metadata["inputs"] == [
        {"name": "x1", "datatype": "FP64", "shape": [-1]},
        {"name": "colour", "datatype": "BYTES", "shape": [-1]},
    ]
    assert [o["name"] for o in metadata["outputs"]] == ["label", "probabilities"]
    assert metadata["parameters"] == {"classes": CLASSES, "id_column": "id"}

    table = pd.read_csv(TEST)
    inputs = [
        {"name": "id", "shape": [5], "datatype": "INT64", "data": table["id"].tolist()},
        {"name": "x1", "shape": [5, 1], "datatype": "FP64", "data": [[v] for v in table["x1"]]},
        {"name": "colour", "shape": [5], "datatype": "BYTES", "data": table["colour"].tolist()},
    ]
    reply = client.post("/v2/models/tiny/infer", json={"id": "r1", "inputs": inputs})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["model_name"], body["id"]) == ("tiny", "r1")
    ids, label, proba = body["outputs"]
    expected = expected_proba(bundle, table)
    assert ids == {"name": "id", "shape": [5], "datatype": "INT64", "data": table["id"].tolist()}
    assert label["datatype"] == "BYTES"
    assert label["data"] == np.array(CLASSES)[expected.argmax(axis=1)].tolist()
    assert (proba["shape"], proba["datatype"]) == ([5, 2], "FP64")
    assert proba["parameters"] == {"classes": CLASSES}
    np.testing.assert_allclose(np.reshape(proba["data"], (5, 2)), expected, atol=1e-6)

    only = {"inputs": inputs[1:], "outputs": [{"name": "probabilities"}]}
    outputs = client.post("/v2/models/tiny/infer", json=only).json()["outputs"]
    assert [o["name"] for o in outputs] == ["probabilities"]


@pytest.mark.parametrize(
    ("path", "document", "message"),
    [
        ("/v2/models/other/infer", {"inputs": []}, "model 'other' not found; this server "),
        (
            "/v2/models/tiny/infer",
            {"inputs": [{"name": "x1", "shape": [2], "datatype": "FP64", "data": [1]}]},
            "request: input 'x1': shape [2] holds 2 values, its data 1",
        ),
        (
            "/v2/models/tiny/infer",
            {
                "inputs": [
                    {"name": "x1", "shape": [2], "datatype": "BYTES", "data": ["1", "n/a"]},
                    {"name": "colour", "shape": [2], "datatype": "BYTES", "data": ["red", "red"]},
                ]
            },
            "request: column 'x1' row 2: 'n/a' is not a number",
        ),
    ],
)
def test_the_inference_protocol_refuses_in_its_error_body(
    client: httpx.Client, path: str, document: dict, message: str
) -> None:
    reply = client.post(path, json=document)
    assert reply.status_code == (404 if "other" in path else 400)
    assert list(reply.json()) == ["error"]
    assert reply.json()["error"].startswith(message), reply.text


# --- bad input --------------------------------------------------------------------------------

# Every data case of the corpus whose bad file is a CSV: a test.csv (rows to predict), or a
# train.csv whose fault (bytes, layout, a feature's values) also concerns rows to predict.
DATA_FILES = sorted(
    (case.name, path.name)
    for case in CORPUS.iterdir()
    if case.name.startswith("data-")
    for path in case.iterdir()
    if path.suffix == ".csv" and path.is_file()
)


@pytest.mark.parametrize(("case", "name"), DATA_FILES)
def test_a_bad_file_posted_gets_the_line_automl_predict_prints(
    client: httpx.Client, bundle_dir: Path, case: str, name: str
) -> None:
    path = CORPUS / case / name
    cli_run = CliRunner().invoke(cli, ["predict", str(bundle_dir), str(path)])
    reply = client.post("/invocations", content=path.read_bytes(), headers=CSV)
    if cli_run.exit_code == 0:  # a training-only fault (the target, duplicate ids): predictable
        assert reply.status_code == 200, reply.text
        assert len(reply.json()["predictions"]) == len(cli_run.output.splitlines()) - 1
        return
    assert cli_run.exit_code == 2, cli_run.output
    line = cli_run.output.strip().removeprefix("Error: ")  # the one line, on standard error
    assert reply.status_code == 400, reply.text
    assert reply.json() == {
        "error_code": "BAD_REQUEST",
        "message": line.replace(str(path), "request").replace("the file", "the body"),
    }
    assert client.get("/ping").status_code == 200


def test_the_corpus_gives_the_server_enough_to_refuse() -> None:
    assert len(DATA_FILES) >= 15
    assert ("data-test-text-in-numeric-column", "test.csv") in DATA_FILES


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"", "application/json", "request: the body is empty"),
        (b"", "text/csv", "request: the body is empty"),
        (b'{"dataframe_records": [', "application/json", "request: not valid JSON: Expecting"),
        (b"\xff\xfe{}", "application/json", "request: not UTF-8 text"),
        (b"[1, 2]", "application/json", "request: the JSON must be an object with exactly one"),
        (b'{"dataframe_records": []}', "application/json", "request: dataframe_records holds no"),
        (
            b'{"dataframe_records": [{"x1": 1, "colour": "red"}, {"x1": Infinity, "colour": "a"}]}',
            "application/json",
            "request: column 'x1' row 2: infinite value",
        ),
        (
            b'{"dataframe_split": {"columns": ["x1", "colour"], "data": [[1, "a"], ["abc", "b"]]}}',
            "application/json",
            "request: column 'x1' row 2: 'abc' is not a number (list the column under",
        ),
        (
            b'{"dataframe_records": [{"x1": 1, "color": "red"}]}',
            "application/json",
            "request: feature column 'colour' is missing (did you mean 'color'?)",
        ),
        (
            b'{"instances": [[1, "red", 3]]}',
            "application/json",
            "request: instances row 1 holds 3 values; a row without column names holds every",
        ),
        (b"x1,colour\n1,red\ninf,red\n", "text/csv", "request: column 'x1' line 3: infinite"),
    ],
)
def test_bad_json_and_csv_get_400_with_one_line(
    client: httpx.Client, body: bytes, content_type: str, message: str
) -> None:
    reply = client.post("/invocations", content=body, headers={"Content-Type": content_type})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error_code"] == "BAD_REQUEST"
    assert reply.json()["message"].startswith(message), reply.json()["message"]
    assert "\n" not in reply.json()["message"]


# --- limits and the token ---------------------------------------------------------------------


def raw_post(port: int, headers: str, parts: Iterator[bytes]) -> tuple[int, str]:
    """POST /invocations over a bare socket: ``headers``, then ``parts`` of the body, without
    ever ending the body; the reply's status and text."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        head = f"POST /invocations HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {TOKEN}\r\n"
        sock.sendall(f"{head}Content-Type: text/csv\r\n{headers}\r\n".encode())
        for part in parts:
            sock.sendall(part)
        reply = b""
        while b"}" not in reply:
            chunk = sock.recv(65536)
            assert chunk, reply
            reply += chunk
    return int(reply.split()[1]), reply.decode()


def test_a_declared_body_over_the_limit_is_refused_unread(server: Server) -> None:
    status, reply = raw_post(server.port, f"Content-Length: {MAX_BODY + 1}\r\n", iter([]))
    assert status == 413, reply
    assert f"request: the body has {MAX_BODY + 1} bytes, over {MAX_BODY}" in reply


def test_a_streamed_body_over_the_limit_is_refused_once_past_it(server: Server) -> None:
    chunk = b"1,red\n" * 10_000
    count = MAX_BODY // len(chunk) + 1
    parts = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(count))
    status, reply = raw_post(server.port, "Transfer-Encoding: chunked\r\n", parts)
    assert status == 413, reply
    assert f"request: the body is over {MAX_BODY} bytes" in reply


def test_too_many_rows_and_a_wrong_content_type_are_refused(client: httpx.Client) -> None:
    reply = client.post("/invocations", content=big_csv(MAX_ROWS + 1), headers=CSV)
    assert reply.status_code == 413
    assert reply.json()["message"] == f"request: {MAX_ROWS + 1} rows, over {MAX_ROWS} per request"
    for content_type in ("text/plain", "application/json; charset=latin-1"):
        reply = client.post("/invocations", content=b"{}", headers={"Content-Type": content_type})
        assert reply.status_code == 415, reply.text
    assert client.post("/invocations", content=TEST.read_bytes(), headers=CSV).status_code == 200


def test_the_token_guards_predictions_and_model_metadata(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as anonymous:
        for path in ("/ping", "/health", "/version", "/v2", "/v2/health/live", "/", "/metrics"):
            assert anonymous.get(path).status_code == 200, path
        assert anonymous.get("/").headers["content-type"].startswith("text/html")
        guarded = [
            ("GET", "/v2/models/tiny"),
            ("GET", "/v2/models/tiny/ready"),
            ("POST", "/v2/models/tiny/infer"),
            ("POST", "/invocations"),
        ]
        for token in (None, "wrong", TOKEN[:-1]):
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            for method, path in guarded:
                reply = anonymous.request(method, path, headers=headers, content=TEST.read_bytes())
                assert reply.status_code == 401, (path, token)
                assert reply.headers["www-authenticate"].startswith("Bearer")
        reply = anonymous.post("/invocations", content=TEST.read_bytes(), headers={**CSV, **AUTH})
        assert reply.status_code == 200


# --- concurrency, metrics, the log ---------------------------------------------------------------


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(
    client: httpx.Client, bundle: ModelBundle
) -> None:
    rng = np.random.default_rng(0)
    tables = [
        pd.DataFrame(
            {
                "id": np.arange(100 * n, 100 * n + size),
                "x1": rng.normal(1, 1, size).round(3),
                "colour": rng.choice(["red", "blue"], size),
            }
        )
        for n, size in enumerate([1, 7, 2, 30, 1, 12, 5, 3, 1, 25, 9, 4, 1, 16, 2, 8])
    ]
    calls = metric(client, "automl_serve_batch_rows_count")
    with ThreadPoolExecutor(17) as pool:
        busy = pool.submit(client.post, "/invocations", content=big_csv(BUSY_ROWS), headers=CSV)
        wait_for(
            client, "automl_serve_model_rows", busy
        )  # the model is busy: the requests queue up
        documents = [{"dataframe_split": t.to_dict(orient="split", index=False)} for t in tables]
        replies = list(pool.map(lambda d: client.post("/invocations", json=d), documents))
        assert busy.result().status_code == 200
    for table, reply in zip(tables, replies, strict=True):
        rows = predictions(reply)
        assert rows["id"].tolist() == table["id"].tolist()
        np.testing.assert_allclose(rows[CLASSES], expected_proba(bundle, table), atol=1e-6)
    assert metric(client, "automl_serve_batch_rows_count") - calls < 1 + len(tables)


def test_metrics_parse_with_prometheus_clients_parser(client: httpx.Client) -> None:
    client.post("/invocations", content=b"x1\n1\n", headers=CSV)
    client.post("/invocations", content=TEST.read_bytes(), headers=CSV)
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    assert families["automl_serve_requests"].type == "counter"
    assert families["automl_serve_request_duration_seconds"].type == "histogram"
    route = {"route": "/invocations", "method": "POST"}
    assert metric(client, "automl_serve_requests_total", **route, status="200") >= 1
    assert metric(client, "automl_serve_requests_total", **route, status="400") >= 1
    assert metric(client, "automl_serve_input_errors_total", status="400") >= 1
    assert metric(client, "automl_serve_rows_total") >= 5
    assert metric(client, "automl_serve_queue_wait_seconds_count") >= 1
    assert metric(client, "automl_serve_request_duration_seconds_count", route="/ping") >= 1


def test_each_request_logs_one_line_with_its_id_and_no_feature_value(
    client: httpx.Client, server: Server
) -> None:
    reply = client.get("/ping", headers={"X-Request-Id": "check-42"})
    assert reply.headers["x-request-id"] == "check-42"
    made = client.get("/ping", headers={"X-Request-Id": "no spaces allowed"})
    assert made.headers["x-request-id"] != "no spaces allowed"
    secret = {"dataframe_records": [{"x1": "s3cr3t-value", "colour": "c0nfidential"}]}
    assert client.post("/invocations", json=secret).status_code == 400
    fine = client.post("/invocations", json={"inputs": {"x1": 1, "colour": "c0nfidential"}})
    assert fine.status_code == 200
    time.sleep(0.2)
    log = server.errors()
    assert "request_id=check-42 method=GET path=/ping route=/ping status=200" in log
    assert f"request_id={made.headers['x-request-id']} " in log
    assert "s3cr3t" not in log and "c0nfidential" not in log


# --- a second server: no token, one waiting request at most; the drain on SIGTERM -------------


@pytest.fixture(scope="module")
def open_server(bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(bundle_dir, tmp_path_factory.mktemp("open"), "--max-queue", "1") as running:
        yield running


def test_without_a_token_predictions_are_open(open_server: Server) -> None:
    reply = httpx.post(f"{open_server.url}/invocations", content=TEST.read_bytes(), headers=CSV)
    assert len(predictions(reply)) == 5
    model = httpx.get(f"{open_server.url}/v2/models/best")  # named after the bundle's folder
    assert model.status_code == 200


def test_a_full_queue_answers_503_with_retry_after(open_server: Server) -> None:
    with (
        httpx.Client(base_url=open_server.url, timeout=60) as session,
        ThreadPoolExecutor(2) as pool,
    ):
        busy = pool.submit(session.post, "/invocations", content=big_csv(BUSY_ROWS), headers=CSV)
        wait_for(session, "automl_serve_model_rows", busy)
        waiting = pool.submit(session.post, "/invocations", content=TEST.read_bytes(), headers=CSV)
        wait_for(session, "automl_serve_queue_depth", waiting)
        refused = session.post("/invocations", content=TEST.read_bytes(), headers=CSV)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert busy.result().status_code == 200 and waiting.result().status_code == 200
        assert (
            session.post("/invocations", content=TEST.read_bytes(), headers=CSV).status_code == 200
        )


def test_sigterm_answers_the_request_in_flight_then_exits_0(open_server: Server) -> None:
    sent_half, go_on = threading.Event(), threading.Event()
    lines = TEST.read_bytes().splitlines(keepends=True)

    def body() -> Iterator[bytes]:
        yield b"".join(lines[:3])
        sent_half.set()
        go_on.wait(30)
        yield b"".join(lines[3:])

    with ThreadPoolExecutor(1) as pool:
        request = pool.submit(
            httpx.post, f"{open_server.url}/invocations", content=body(), headers=CSV, timeout=60
        )
        assert sent_half.wait(30)
        time.sleep(0.3)  # the first half has arrived: the request is in flight
        open_server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the server stops accepting, and waits for the request
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{open_server.url}/ping", timeout=5)
        go_on.set()
        assert len(predictions(request.result())) == 5
    assert open_server.stop(None) == 0  # the one SIGTERM was enough
    assert open_server.output().startswith("Serving best on http://127.0.0.1:")
