"""``automl serve``: answer predictions over HTTP from a bundle or a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from automl.cli._app import cli, quiet_libraries
from automl.errors import UserError

# The server's limits by default (automl.serve.Limits has none of its own).
_LIMITS = {"max_body_bytes": 10 * 1024 * 1024, "max_rows": 100_000, "max_queue": 256}


def _limit(name: str, help_text: str) -> Any:
    """The ``--max-...`` option of one of the server's limits."""
    return click.option(
        f"--{name.replace('_', '-')}",
        type=click.IntRange(min=1),
        default=_LIMITS[name],
        show_default=True,
        help=help_text,
    )


@cli.command()
@click.argument("source", metavar="BUNDLE_OR_RUN_DIR", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--port-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the port here once the server is ready.",
)
@click.option(
    "--model-name",
    help="The model's name in /v2/models/NAME (default: the run's name, else the folder's).",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Require this file's bearer token (default: $AUTOML_SERVE_TOKEN when set).",
)
@_limit("max_body_bytes", "Larger request bodies are refused (413) unread.")
@_limit("max_rows", "Rows one request may hold (413 beyond).")
@_limit("max_queue", "Requests that may wait for the model (503 beyond).")
@click.option("-v", "--verbose", is_flag=True, help="Show TensorFlow's log.")
def serve(
    source: Path,
    host: str,
    port: int,
    port_file: Path | None,
    model_name: str | None,
    token_file: Path | None,
    max_body_bytes: int,
    max_rows: int,
    max_queue: int,
    verbose: bool,
) -> None:
    """Answer predictions over HTTP from BUNDLE_OR_RUN_DIR: MLflow's POST /invocations, the Open
    Inference Protocol's /v2 routes, /metrics, and a page at /.

    Prints "Serving NAME on http://HOST:PORT" when ready; SIGTERM finishes the requests in
    flight, then exits 0.
    """
    try:
        from automl import serve as server
    except ImportError as exc:
        raise UserError(
            f"automl serve needs the serve extra ({exc.name} is not installed): "
            "pip install 'automl[serve]'"
        ) from None
    token = server.read_token(token_file)
    model = server.find_model(source, model_name)
    sock = server.bind(host, port)
    if token is None and not server.is_loopback(host):
        click.echo(
            f"Warning: serving on {host} without a token: anyone who reaches this address can "
            f"use the model; set {server.TOKEN_VARIABLE} or --token-file",
            err=True,
        )
    limits = server.Limits(max_body_bytes=max_body_bytes, max_rows=max_rows, max_queue=max_queue)
    settings = server.Settings(model.name, token, limits, port_file)
    quiet_libraries(verbose)
    server.run(model, settings, sock)
