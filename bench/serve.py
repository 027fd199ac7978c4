"""Serving speed of ``automl serve`` against ``mlflow models serve`` on the same bundle, in one run.

The peer is MLflow's scoring server with its defaults (one uvicorn worker) serving a pyfunc
wrapper around the same bundle (bench/_mlflow_bundle.py: the bundle's class probabilities as a
DataFrame), from a benchmark-only environment with MLflow and this repository, made on first use
under ~/.cache/automl-bench/ (MLflow is not a dependency of automl). Before timing, both servers
answer the same 100 rows and their probabilities must agree to 1e-6.

Both servers get the same request bytes (MLflow's ``dataframe_split`` JSON) over keep-alive
HTTP/1.1 connections to 127.0.0.1, from this process: each scenario runs for ``--seconds`` on
each server, one client per connection sending its next request when the last one is answered.
Scenarios: one row from one client (latency: p50, p99), one row from 8 clients at once
(requests/s), 1,000-row requests from one client (rows/s); on the quickstart bundle (digits, one
network) and on a stacked Otto bundle (networks' fold models, gradient boosting and extra trees
under a stacker). The servers alternate in rounds whose order reverses every round (A B, B A, ...);
each round gives one ratio automl / MLflow per figure, and the table shows the medians over the
rounds with the ratios' interquartile and min-max ranges, against the goals: >= 3x MLflow's
requests/s at 8 clients, <= 0.5x its one-row p50, >= 2x its rows/s in 1,000-row requests.

Bundles: runs/quickstart/best (made by ``automl search recipes/quickstart.yaml`` when missing)
and a short search of bench/serve-otto.yaml on ../shared/data/otto/train.csv.gz (made under
~/.cache/automl-bench/ when missing or no longer loadable; skipped when the data is absent).
The benchmark starts the two servers of a bundle and stops them (and nothing else) when it ends,
also on Ctrl-C or an error.

    .venv/bin/python bench/serve.py [--rounds 5] [--seconds 5] [--only quickstart|otto]
        [--quick] [--peer-traced] [--quickstart-bundle DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.errors import UserError
from automl.recipe import load_recipe
from automl.results import verify_bundle

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "automl-bench"
PEER_ENV = CACHE / "mlflow-venv"
PEER_WRAPPER = REPO / "bench" / "_mlflow_bundle.py"
# The libraries that decide the model's numbers run at the same versions in both environments.
PINNED = ("tensorflow", "keras", "numpy", "pandas", "scikit-learn", "scipy", "skops", "h5py")
QUICKSTART_RECIPE = REPO / "recipes" / "quickstart.yaml"
OTTO_RECIPE = REPO / "bench" / "serve-otto.yaml"
OTTO_RUN = CACHE / "serve-otto"
HOST = "127.0.0.1"
CHECK_ROWS = 100
TOLERANCE = 1e-6
START_TIMEOUT = 600.0  # seconds for a server to load its bundle and answer /ping
# Inherited by both servers; the echoed command shows those set.
THREAD_SETTINGS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class Scenario:
    """Requests of ``rows`` rows from ``clients`` connections at once."""

    label: str
    rows: int
    clients: int


SCENARIOS = (
    Scenario("1 row, 1 client", 1, 1),
    Scenario("1 row, 8 clients", 1, 8),
    Scenario("1,000 rows, 1 client", 1000, 1),
)


@dataclass(frozen=True)
class Goal:
    """automl's figure over MLflow's in ``scenario``: at least ``target`` (or at most, for a
    latency)."""

    scenario: Scenario
    figure: str
    target: float

    @property
    def at_most(self) -> bool:
        """A latency: lower is better."""
        return self.figure.endswith(" ms")

    def met(self, ratio: float) -> bool:
        """Whether the median ratio meets the goal."""
        return ratio <= self.target if self.at_most else ratio >= self.target

    def __str__(self) -> str:
        sign = "<=" if self.at_most else ">="
        return f"{self.figure}, {self.scenario.label} {sign} {self.target:g}x"


GOALS = (
    Goal(SCENARIOS[1], "req/s", 3.0),
    Goal(SCENARIOS[0], "p50 ms", 0.5),
    Goal(SCENARIOS[2], "rows/s", 2.0),
)
FIGURES = ("req/s", "rows/s", "p50 ms", "p99 ms")


@dataclass
class Sample:
    """One scenario on one server for one round: each request's latency and the span."""

    rows: int
    latencies: list[float]
    seconds: float

    def figure(self, name: str) -> float:
        """req/s, rows/s, or the p50/p99 latency in ms."""
        if name == "req/s":
            return len(self.latencies) / self.seconds
        if name == "rows/s":
            return self.rows * len(self.latencies) / self.seconds
        quantile = {"p50 ms": 0.50, "p99 ms": 0.99}[name]
        return float(np.quantile(self.latencies, quantile)) * 1000


# ---------------------------------------------------------------------------- the HTTP client


class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1, one request at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send a prepared request; return the status and the body."""
        if self.streams is None:
            self.streams = await asyncio.open_connection(HOST, self.port)
        reader, writer = self.streams
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await _read_chunked(reader)
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, body

    async def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        if self.streams is not None:
            writer = self.streams[1]
            self.streams = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while size := int((await reader.readline()).split(b";")[0], 16):
        parts.append(await reader.readexactly(size))
        await reader.readline()
    while (await reader.readline()) not in (b"\r\n", b""):  # trailers
        pass
    return b"".join(parts)


def prepared_request(port: int, method: str, path: str, body: bytes = b"") -> bytes:
    """The bytes of one request with a JSON body (or none)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


async def _drive(port: int, body: bytes, scenario: Scenario, seconds: float) -> Sample:
    raw = prepared_request(port, "POST", "/invocations", body)
    latencies: list[float] = []
    start = time.perf_counter()
    deadline = start + seconds

    async def client() -> float:
        connection = Connection(port)
        try:
            while True:
                sent = time.perf_counter()
                status, reply = await connection.request(raw)
                done = time.perf_counter()
                if status != 200:
                    line = reply.decode(errors="replace").strip().splitlines()[:1]
                    raise RuntimeError(f"port {port}: status {status}: {' '.join(line)[:300]}")
                latencies.append(done - sent)
                if done >= deadline:
                    return done
        finally:
            await connection.close()

    ends = await asyncio.gather(*(client() for _ in range(scenario.clients)))
    return Sample(scenario.rows, latencies, max(ends) - start)


def drive(port: int, body: bytes, scenario: Scenario, seconds: float) -> Sample:
    """Send ``body`` (``scenario.rows`` rows) from ``scenario.clients`` connections at once for
    ``seconds`` (each client finishes its last request) and time every request."""
    return asyncio.run(_drive(port, body, scenario, seconds))


def post(port: int, body: bytes) -> Any:
    """One POST /invocations; its JSON reply (an error names the status and the reply)."""

    async def once() -> tuple[int, bytes]:
        connection = Connection(port)
        try:
            return await connection.request(prepared_request(port, "POST", "/invocations", body))
        finally:
            await connection.close()

    status, reply = asyncio.run(once())
    if status != 200:
        raise RuntimeError(f"port {port}: status {status}: {reply[:300].decode(errors='replace')}")
    return json.loads(reply)


def answers_ping(port: int) -> bool:
    """Whether GET /ping answers 200."""

    async def once() -> int:
        connection = Connection(port)
        try:
            return (await connection.request(prepared_request(port, "GET", "/ping")))[0]
        finally:
            await connection.close()

    try:
        return asyncio.run(asyncio.wait_for(once(), 5.0)) == 200
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, IndexError):
        return False


# ---------------------------------------------------------------------------- the servers


@dataclass
class Server:
    """A server this benchmark starts: its command, and how its port becomes known."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    port_file: Path | None = None
    port: int = 0


def free_port() -> int:
    """A port on 127.0.0.1 free a moment ago (MLflow's server takes a fixed port)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    """Start the server in its own process group, wait until /ping answers, and stop that group
    (SIGTERM, then SIGKILL after 30 s) however the block ends."""
    with server.log.open("wb") as log:
        process = subprocess.Popen(
            server.argv,
            env=server.env,
            cwd=server.log.parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not (server.port and answers_ping(server.port)):
            if process.poll() is not None:
                tail = server.log.read_text(errors="replace").strip().splitlines()[-15:]
                raise RuntimeError(
                    f"{server.name} exited with status {process.returncode} before answering; "
                    f"its log ends:\n  " + "\n  ".join(tail)
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} did not answer /ping in {START_TIMEOUT:.0f} s")
            if server.port_file is not None and server.port_file.is_file():
                text = server.port_file.read_text().strip()
                server.port = int(text) if text.isdigit() else 0
            time.sleep(0.5)
        yield server
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)  # the group this benchmark started (start_new_session)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait)
            return


def automl_server(bundle: Path, scratch: Path) -> Server:
    """``automl serve BUNDLE --port 0 --port-file FILE`` from this environment."""
    port_file = scratch / "automl.port"
    argv = [sys.executable, "-m", "automl", "serve", str(bundle), "--port", "0"]
    return Server(
        "automl",
        [*argv, "--port-file", str(port_file)],
        scratch / "automl.log",
        port_file=port_file,
    )


def mlflow_server(bundle: Path, scratch: Path, python: Path, *, traced: bool) -> Server:
    """``mlflow models serve`` of the bundle saved as a pyfunc model, with MLflow's defaults."""
    model = scratch / "mlflow-model"
    save = [str(python), str(PEER_WRAPPER), str(bundle), str(model)]
    saved = subprocess.run(
        [*save, "--traced"] if traced else save, cwd=scratch, capture_output=True, text=True
    )
    if saved.returncode != 0:
        raise RuntimeError(f"saving the MLflow model failed:\n{saved.stderr.strip()[-2000:]}")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"  # its uvicorn
    argv = [str(python.parent / "mlflow"), "models", "serve", "-m", str(model)]
    argv += ["--env-manager", "local", "--host", HOST, "-p", str(port)]
    return Server("MLflow", argv, scratch / "mlflow.log", env=env, port=port)


# ---------------------------------------------------------------------------- set-up


def peer_environment() -> Path:
    """The Python of the benchmark's MLflow environment, made (a few minutes) when missing or
    when this environment's pinned libraries changed version."""
    pins = "\n".join(f"{name}=={version(name)}" for name in PINNED) + "\n"
    python, marker = PEER_ENV / "bin" / "python", PEER_ENV / "automl-bench-pins.txt"
    if python.is_file() and marker.is_file() and marker.read_text() == pins:
        return python
    PEER_ENV.parent.mkdir(parents=True, exist_ok=True)
    log = PEER_ENV.parent / "mlflow-venv.log"
    note(f"making the MLflow environment {PEER_ENV} (a few minutes; log: {log})")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_ENV)], check=True)
    constraints = PEER_ENV / "constraints.txt"
    constraints.write_text(pins)
    install = [str(python), "-m", "pip", "install", "-c", str(constraints), "mlflow"]
    with log.open("wb") as out:
        done = subprocess.run([*install, "-e", str(REPO)], stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"serve.py: installing MLflow failed; see {log}")
    marker.write_text(pins)  # last: a half-made environment is made again next time
    return python


def search(recipe: Path, *extra: str) -> None:
    """Run ``automl search RECIPE`` (its progress on stderr)."""
    command = [sys.executable, "-m", "automl", "search", str(recipe), "-q", *extra]
    note(f"making a bundle: {shlex.join(command)}")
    subprocess.run(command, check=True, cwd=REPO, stdout=sys.stderr)


def quickstart_bundle(path: Path) -> Path:
    """The quickstart bundle, searched for when it is missing at the default place."""
    default = path.resolve() == REPO / "runs" / "quickstart" / "best"
    if default and not path.exists():
        search(QUICKSTART_RECIPE)
    try:
        verify_bundle(path)
    except UserError as exc:
        remake = f".venv/bin/automl search {QUICKSTART_RECIPE.relative_to(REPO)} --fresh"
        hint = f"\n(make it again with: {remake})" if default else ""
        raise SystemExit(f"serve.py: {exc}{hint}") from None
    return path


def otto_bundle() -> Path | None:
    """The stacked Otto bundle, searched for when missing or no longer loadable; None (with the
    reason printed) when the Otto data is absent."""
    data = load_recipe(OTTO_RECIPE).data.train
    if data is None or not data.is_file():
        note(f"skipping the Otto bundle: the Otto data is not at {data}")
        return None
    best = OTTO_RUN / "best"
    try:
        verify_bundle(best)
    except UserError as exc:
        note(f"{exc}: searching again")
        search(OTTO_RECIPE, "--output", str(OTTO_RUN), "--fresh")
        verify_bundle(best)
    return best


def request_rows(recipe: Path, columns: list[str], count: int) -> pd.DataFrame:
    """The first ``count`` rows of the recipe's training data, the bundle's feature columns."""
    train = load_recipe(recipe).data.train
    assert train is not None
    return pd.read_csv(train, nrows=count, usecols=columns)[columns]


def split_body(rows: pd.DataFrame) -> bytes:
    """MLflow's ``dataframe_split`` JSON for these rows."""
    split = {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}
    return json.dumps({"dataframe_split": split}).encode()


def probabilities(reply: Any, classes: list[str]) -> np.ndarray:
    """The class probability columns of a reply: ``{"predictions": [{column: value}, ...]}``
    (MLflow's records) or ``{"predictions": {"columns": [...], "data": [...]}}``."""
    predictions = reply["predictions"] if isinstance(reply, dict) else reply
    if isinstance(predictions, dict):
        frame = pd.DataFrame(predictions["data"], columns=predictions["columns"])
    else:
        frame = pd.DataFrame.from_records(predictions)
    frame.columns = [str(c) for c in frame.columns]
    return frame[classes].to_numpy(dtype=np.float64)


def check_equal(servers: list[Server], rows: pd.DataFrame, classes: list[str]) -> float:
    """Both servers' probabilities for the same rows agree to TOLERANCE; the largest gap."""
    body = split_body(rows)
    first, second = (probabilities(post(s.port, body), classes) for s in servers)
    gap = float(np.abs(first - second).max())
    if first.shape != (len(rows), len(classes)) or gap > TOLERANCE:
        raise SystemExit(
            f"serve.py: the servers disagree on {len(rows)} rows: shapes {first.shape} and "
            f"{second.shape}, largest difference {gap:.3g} (allowed {TOLERANCE:g})"
        )
    return gap


# ---------------------------------------------------------------------------- the rounds


@dataclass
class Result:
    """One bundle's samples by (scenario label, server name), one per round."""

    bundle: str
    description: str
    gap: float
    samples: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)

    def median(self, scenario: Scenario, server: str, figure: str) -> float:
        """The median of a figure over the rounds."""
        return statistics.median(s.figure(figure) for s in self.samples[scenario.label, server])

    def ratios(self, scenario: Scenario, figure: str) -> list[float]:
        """automl's figure over MLflow's, round by round."""
        pairs = zip(
            self.samples[scenario.label, "automl"],
            self.samples[scenario.label, "MLflow"],
            strict=True,
        )
        return [a.figure(figure) / m.figure(figure) for a, m in pairs]


def measure(
    name: str,
    manifest: dict[str, Any],
    servers: list[Server],
    data: pd.DataFrame,
    args: argparse.Namespace,
) -> Result:
    """Check the servers agree, warm them up, then run the interleaved rounds."""
    classes = [str(c) for c in manifest["classes"]]
    gap = check_equal(servers, data.head(CHECK_ROWS), classes)
    result = Result(name, describe(manifest), gap)
    bodies = {s.label: split_body(data.head(s.rows)) for s in SCENARIOS}
    for server in servers:  # untimed: first calls, connection set-up, batch shapes
        for scenario in SCENARIOS:
            drive(server.port, bodies[scenario.label], scenario, min(1.0, args.seconds))
    for round_ in range(args.rounds):
        order = servers if round_ % 2 == 0 else servers[::-1]  # A B, B A, A B, ...
        for scenario in SCENARIOS:
            for server in order:
                sample = drive(server.port, bodies[scenario.label], scenario, args.seconds)
                result.samples.setdefault((scenario.label, server.name), []).append(sample)
                note(
                    f"  [{round_ + 1}/{args.rounds}] {name} | {scenario.label} | {server.name}: "
                    f"{sample.figure('req/s'):.1f} req/s, p50 {sample.figure('p50 ms'):.2f} ms"
                )
    return result


def run_bundle(
    name: str, bundle: Path, recipe: Path, python: Path, args: argparse.Namespace
) -> Result:
    """Start both servers on the bundle, measure, and stop them."""
    manifest = verify_bundle(bundle)
    columns = list(manifest["schema"]["columns"])
    data = request_rows(recipe, columns, max(CHECK_ROWS, *(s.rows for s in SCENARIOS)))
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as folder, contextlib.ExitStack() as on:
        scratch = Path(folder)
        note(f"{name}: starting automl serve and mlflow models serve on {bundle}")
        servers = [
            on.enter_context(running(automl_server(bundle, scratch))),
            on.enter_context(
                running(mlflow_server(bundle, scratch, python, traced=args.peer_traced))
            ),
        ]
        return measure(name, manifest, servers, data, args)


# ---------------------------------------------------------------------------- the report


def describe(manifest: dict[str, Any]) -> str:
    """Columns, classes and models of a bundle, from its manifest."""
    models = [m["model"] for m in manifest["members"]]
    networks = sum(name.endswith(".keras") for name in models)
    parts = [f"{networks} Keras"] if networks else []
    parts += [f"{len(models) - networks} scikit-learn"] if len(models) > networks else []
    method = manifest.get("ensemble_method") or manifest.get("final_model")
    stacker = " and a stacker" if "stacker" in manifest else ""
    return (
        f"{len(manifest['schema']['columns'])} columns, {len(manifest['classes'])} classes, "
        f"{method}: {' + '.join(parts)} model{'s' if len(models) > 1 else ''}{stacker}"
    )


def quantiles(values: list[float]) -> tuple[float, float, float, float, float]:
    """min, lower quartile, median, upper quartile, max."""
    if len(values) == 1:
        return (values[0],) * 5
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return min(values), q1, q2, q3, max(values)


def report(results: list[Result], args: argparse.Namespace, command: str) -> None:
    """The table of absolute figures, then the ratios against the goals."""
    peer = "pyfunc with traced Keras members" if args.peer_traced else "pyfunc"
    print(f"\n$ {command}")
    print(
        f"{args.rounds} interleaved round{'s' if args.rounds > 1 else ''} (order reversed every "
        f"round), {args.seconds:g} s per "
        f"scenario and server, keep-alive HTTP/1.1 to {HOST}, dataframe_split JSON; "
        f"{len(os.sched_getaffinity(0))} cores; MLflow {peer_version('mlflow')} "
        f"(mlflow models serve, defaults) serving a {peer} around the same bundle; "
        f"figures are medians over the rounds"
    )
    for result in results:
        print(f"{result.bundle}: {result.description}")
    print()
    head = ("bundle", "scenario", "server", *FIGURES)
    print("{:11} {:21} {:7} {:>9} {:>10} {:>8} {:>8}".format(*head))
    for result in results:
        for scenario in SCENARIOS:
            for server in ("automl", "MLflow"):
                cells = [result.median(scenario, server, f) for f in FIGURES]
                print(
                    f"{result.bundle:11} {scenario.label:21} {server:7} {cells[0]:9.1f} "
                    f"{cells[1]:10,.0f} {cells[2]:8.2f} {cells[3]:8.2f}"
                )
        print(f"{'':11} probabilities on {CHECK_ROWS} rows: largest difference {result.gap:.1e}")
    print("\nautoml / MLflow, per round: median [q1-q3] (min-max), against the goal")
    for result in results:
        for goal in GOALS:
            lo, q1, med, q3, hi = quantiles(result.ratios(goal.scenario, goal.figure))
            verdict = "met" if goal.met(med) else "missed"
            print(
                f"{result.bundle:11} {goal!s:40} {med:6.2f} [{q1:.2f}-{q3:.2f}] "
                f"({lo:.2f}-{hi:.2f})  {verdict}"
            )


def peer_version(name: str) -> str:
    """A library's version in the MLflow environment."""
    found = list(PEER_ENV.glob(f"lib/python*/site-packages/{name}-*.dist-info"))
    return found[0].name.removesuffix(".dist-info").split("-")[1] if found else "?"


def note(text: str) -> None:
    """A progress line on stderr."""
    print(text, file=sys.stderr, flush=True)


def interrupt_on_sigterm() -> None:
    """SIGTERM ends the benchmark as Ctrl-C does: the servers it started are stopped."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, make what is missing, run both bundles' rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="per scenario, server and round (default 5)"
    )
    parser.add_argument("--only", choices=("quickstart", "otto"), help="one bundle only")
    parser.add_argument("--quick", action="store_true", help="a smoke check: 1 round of 1 s")
    parser.add_argument(
        "--peer-traced",
        action="store_true",
        help="the MLflow pyfunc traces the bundle's Keras members too (ModelBundle.trace)",
    )
    parser.add_argument(
        "--quickstart-bundle",
        type=Path,
        default=REPO / "runs" / "quickstart" / "best",
        help="the quickstart bundle (default runs/quickstart/best)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds = 1, 1.0
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds must be at least 1 and --seconds above 0")
    interrupt_on_sigterm()
    threads = [f"{k}={os.environ[k]}" for k in THREAD_SETTINGS if k in os.environ]
    command = shlex.join([*threads, ".venv/bin/python", "bench/serve.py", *sys.argv[1:]])
    started = time.perf_counter()
    python = peer_environment()
    makers: dict[str, tuple[Callable[[], Path | None], Path]] = {
        "quickstart": (lambda: quickstart_bundle(args.quickstart_bundle), QUICKSTART_RECIPE),
        "otto": (otto_bundle, OTTO_RECIPE),
    }
    results = []
    for name, (make, recipe) in makers.items():
        if args.only in (None, name) and (bundle := make()) is not None:
            results.append(run_bundle(name, bundle, recipe, python, args))
    if not results:
        print("serve.py: no bundle to serve", file=sys.stderr)
        return 2
    report(results, args, command)
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("serve.py: interrupted (the servers it started are stopped)", file=sys.stderr)
        sys.exit(130)
