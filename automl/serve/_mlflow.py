"""MLflow's scoring-server protocol: ``POST /invocations`` with ``dataframe_split``,
``dataframe_records``, ``instances`` or ``inputs`` JSON, or CSV; ``/ping``, ``/health`` and
``/version``; its error body."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
from starlette.requests import Request
from starlette.responses import Response

from automl._version import __version__
from automl.data import check_table, read_csv_body
from automl.errors import UserError
from automl.serve._body import CSV, JSON, decode_json, media_type, read_body, wants_csv
from automl.serve._model import CSV_BODY, JSON_BODY, ServedModel

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


async def invocations(request: Request, model: ServedModel) -> Response:
    """Predict the rows of a JSON or CSV body; reply JSON ``{"predictions": [...]}``, or with
    ``Accept: text/csv`` exactly the CSV ``automl predict`` writes."""
    kind = media_type(request, (JSON, CSV))
    body = await read_body(request, model.limits.max_body_bytes)
    if kind == CSV:
        frame = await model.predict(read_csv_body(body, CSV_BODY), CSV_BODY)
    else:
        table = json_frame(decode_json(body), model.bundle.schema.columns)
        frame = await model.predict(table, JSON_BODY)
    request.state.rows = len(frame)
    if wants_csv(request):
        return Response(frame.to_csv(index=False), media_type=CSV)
    predictions = frame.to_dict(orient="records")
    return Response(json.dumps({"predictions": predictions}), media_type=JSON)


async def ping(request: Request) -> Response:
    """Health: the model is loaded (MLflow answers a newline)."""
    return Response("\n", media_type=JSON)


async def version(request: Request) -> Response:
    """The automl version serving."""
    return Response(__version__, media_type="text/plain")


def json_frame(document: Any, columns: Sequence[str]) -> pd.DataFrame:
    """The table of an MLflow JSON request: exactly one of :data:`FORMATS`.

    ``dataframe_split`` is ``{"columns": [...], "data": [[...], ...]}``; ``dataframe_records`` a
    list of objects; ``instances`` and ``inputs`` a list of objects, an object of columns (lists)
    or of one row's values, or a list of rows holding every feature in the model's ``columns``
    order.
    """
    keys = [key for key in FORMATS if isinstance(document, dict) and key in document]
    if len(keys) != 1:
        held = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise UserError(
            f"request: the JSON must be an object with exactly one of the fields "
            f"{', '.join(FORMATS)}; it holds {held}"
        )
    key, value = keys[0], document[keys[0]]
    if key == "dataframe_split":
        table = _split(value)
    elif key == "dataframe_records" or (isinstance(value, list) and _all(value, dict)):
        table = _records(value, key)
    elif isinstance(value, list) and _all(value, list):
        table = _rows_in_order(value, key, columns)
    elif isinstance(value, dict):
        table = _columns(value, key)
    else:
        raise UserError(
            f"request: {key} must be a list of objects (one per row), an object of columns, "
            "or a list of rows holding every feature in order"
        )
    if table.empty:
        raise UserError(f"request: {key} holds no rows")
    return check_table(table, [str(c) for c in table.columns], JSON_BODY)


def _all(values: list, kind: type) -> bool:
    return bool(values) and all(isinstance(v, kind) for v in values)


def _split(value: Any) -> pd.DataFrame:
    if not isinstance(value, dict) or not isinstance(value.get("columns"), list):
        raise UserError('request: dataframe_split must be an object with "columns" and "data"')
    columns, data = [str(c) for c in value["columns"]], value.get("data")
    if not isinstance(data, list):
        raise UserError('request: dataframe_split "data" must be a list of rows')
    for number, row in enumerate(data, start=1):
        if not isinstance(row, list) or len(row) != len(columns):
            held = f"{len(row)} values" if isinstance(row, list) else f"a {type(row).__name__}"
            raise UserError(
                f"request: dataframe_split row {number} holds {held} for {len(columns)} columns"
            )
    return pd.DataFrame(data, columns=columns)


def _records(value: Any, key: str) -> pd.DataFrame:
    if not isinstance(value, list):
        raise UserError(f"request: {key} must be a list of objects, one per row")
    for number, row in enumerate(value, start=1):
        if not isinstance(row, dict):
            raise UserError(f"request: {key} row {number} is a {type(row).__name__}, not an object")
    return pd.DataFrame.from_records(value)


def _rows_in_order(value: list, key: str, columns: Sequence[str]) -> pd.DataFrame:
    for number, row in enumerate(value, start=1):
        if len(row) != len(columns):
            raise UserError(
                f"request: {key} row {number} holds {len(row)} values; a row without column "
                f"names holds every feature in order ({len(columns)} values)"
            )
    return pd.DataFrame(value, columns=list(columns))


def _columns(value: dict, key: str) -> pd.DataFrame:
    lists = [isinstance(v, list) for v in value.values()]
    if not any(lists):  # one row's values
        return pd.DataFrame([value])
    lengths = {len(v) if isinstance(v, list) else 1 for v in value.values()}
    if not all(lists) or len(lengths) > 1:
        raise UserError(f"request: {key} columns must be lists of the same length")
    return pd.DataFrame(value)
