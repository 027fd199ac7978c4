"""A request's body: its content type, its bytes read no further than the limit, JSON decoded
with one-line errors, and the reply type the caller accepts."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from automl.errors import UserError
from automl.serve._errors import HttpError

JSON = "application/json"
CSV = "text/csv"


def media_type(request: Request, allowed: tuple[str, ...]) -> str:
    """The request's media type, one of ``allowed``; other types, or a charset other than UTF-8,
    are refused with 415."""
    raw = request.headers.get("content-type", "")
    kind, *parameters = (part.strip() for part in raw.split(";"))
    kind = kind.lower()
    if kind not in allowed:
        shown = f"Content-Type '{raw}'" if raw else "no Content-Type"
        raise HttpError(415, f"request: {shown}; send {' or '.join(allowed)}")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip(' "').lower() not in {"utf-8", "utf8"}:
            raise HttpError(415, f"request: charset '{value.strip()}'; send UTF-8")
    return kind


def wants_csv(request: Request) -> bool:
    """Whether the caller's Accept header names text/csv before (or without) JSON."""
    kinds = [
        part.split(";")[0].strip().lower() for part in request.headers.get("accept", "").split(",")
    ]
    if CSV not in kinds:
        return False
    return JSON not in kinds or kinds.index(CSV) < kinds.index(JSON)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to pass ``limit`` bytes: by its
    Content-Length before reading, or while reading a body sent without one."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise HttpError(413, f"request: the body has {int(declared)} bytes, over {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"request: the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(body: bytes) -> Any:
    """The JSON document in ``body``, or a one-line :class:`UserError`."""
    if not body.strip():
        raise UserError("request: the body is empty")
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise UserError("request: not UTF-8 text; send the JSON as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"request: not valid JSON: {exc}") from None
    except RecursionError:
        raise UserError("request: not valid JSON: nested too deeply") from None
