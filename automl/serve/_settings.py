"""The server's settings: where it listens, its limits, and the bearer token, which is read from
the environment or a file (a command-line value would show in the process list)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from automl.errors import UserError

TOKEN_VARIABLE = "AUTOML_SERVE_TOKEN"


@dataclass(frozen=True)
class Limits:
    """What one request may hold and how much may wait for the model (the command line holds
    the defaults)."""

    max_body_bytes: int
    max_rows: int
    max_queue: int  # requests waiting for the model; one more is answered 503
    batch_rows: int = 4096  # rows gathered into one model call, at most (a larger request alone)


@dataclass(frozen=True)
class Settings:
    """Everything the server needs besides the model and its socket."""

    model_name: str
    token: str | None
    limits: Limits
    port_file: Path | None = None


def read_token(token_file: Path | None) -> str | None:
    """The bearer token: the contents of ``token_file`` (surrounding whitespace dropped) when
    given, else the ``AUTOML_SERVE_TOKEN`` environment variable, else ``None`` (no token)."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"--token-file {token_file}: cannot read: {exc}") from None
        if not token:
            raise UserError(f"--token-file {token_file}: the file is empty")
        return token
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    return token or None


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
