"""The Open Inference Protocol (v2, as KServe, Seldon MLServer and Triton speak it): server and
model metadata, health, and ``POST /v2/models/{name}/infer`` with one input tensor per column
(columnar, like MLServer's pandas codec)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from starlette.requests import Request
from starlette.responses import JSONResponse

from automl._version import __version__
from automl.errors import UserError
from automl.serve._body import JSON, decode_json, media_type, read_body
from automl.serve._errors import HttpError
from automl.serve._model import JSON_BODY, ServedModel

PROBABILITIES = "probabilities"
DATATYPES = frozenset(
    {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"}
    | {"FP16", "FP32", "FP64", "BYTES"}
)


async def server_metadata(request: Request) -> JSONResponse:
    """``GET /v2``: the server's name, version and extensions."""
    return JSONResponse({"name": "automl", "version": __version__, "extensions": []})


async def live(request: Request) -> JSONResponse:
    """``GET /v2/health/live``."""
    return JSONResponse({"live": True})


async def ready(request: Request) -> JSONResponse:
    """``GET /v2/health/ready``: the model is loaded and warmed up before the server listens."""
    return JSONResponse({"ready": True})


async def model_ready(request: Request, model: ServedModel) -> JSONResponse:
    """``GET /v2/models/{name}/ready``."""
    return JSONResponse({"name": _named(request, model), "ready": True})


async def model_metadata(request: Request, model: ServedModel) -> JSONResponse:
    """``GET /v2/models/{name}``: one input per feature column, the label and the probabilities
    as outputs; the classes and the id column as parameters."""
    bundle = model.bundle
    inputs = [
        {
            "name": c,
            "datatype": "BYTES" if c in bundle.schema.categorical else "FP64",
            "shape": [-1],
        }
        for c in bundle.schema.columns
    ]
    outputs = [
        {"name": bundle.label_column, "datatype": "BYTES", "shape": [-1]},
        {"name": PROBABILITIES, "datatype": "FP64", "shape": [-1, len(bundle.classes)]},
    ]
    return JSONResponse(
        {
            "name": _named(request, model),
            "versions": [],
            "platform": "automl",
            "inputs": inputs,
            "outputs": outputs,
            "parameters": {"classes": list(bundle.classes), "id_column": bundle.id_column},
        }
    )


async def infer(request: Request, model: ServedModel) -> JSONResponse:
    """``POST /v2/models/{name}/infer``: predict the rows of the input tensors (one per column;
    the id column may come too); reply the id (when sent), the label and the probabilities."""
    name = _named(request, model)
    media_type(request, (JSON,))
    document = decode_json(await read_body(request, model.limits.max_body_bytes))
    frame = await model.predict(input_table(document), JSON_BODY)
    request.state.rows = len(frame)
    outputs = _outputs(frame, model)
    wanted = _requested_outputs(document, [o["name"] for o in outputs])
    reply: dict[str, Any] = {
        "model_name": name,
        "id": str(document.get("id") or request.state.request_id),
        "parameters": {"content_type": "pd"},
        "outputs": [o for o in outputs if wanted is None or o["name"] in wanted],
    }
    return JSONResponse(reply)


def input_table(document: Any) -> pd.DataFrame:
    """The table of an inference request: each input tensor is a column of shape ``[rows]`` or
    ``[rows, 1]``, its data flat or nested."""
    tensors = document.get("inputs") if isinstance(document, dict) else None
    if not isinstance(tensors, list) or not tensors:
        raise UserError(
            'request: an inference request is an object with "inputs": a list of '
            "tensors, one per column"
        )
    columns: dict[str, list] = {}
    for number, tensor in enumerate(tensors, start=1):
        name, data = _column(tensor, number)
        if name in columns:
            raise UserError(f"request: input '{name}' appears more than once")
        columns[name] = data
    rows = {len(data) for data in columns.values()}
    if len(rows) > 1:
        raise UserError(f"request: the inputs hold different numbers of rows ({sorted(rows)})")
    if rows == {0}:
        raise UserError("request: the inputs hold no rows")
    return pd.DataFrame(columns)


def _column(tensor: Any, number: int) -> tuple[str, list]:
    """An input tensor's name and its values as one flat list, after checking its fields."""
    if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
        raise UserError(
            f'request: inputs[{number}] must be an object with "name", "shape", '
            '"datatype" and "data"'
        )
    name, shape, datatype = tensor["name"], tensor.get("shape"), tensor.get("datatype")
    if datatype not in DATATYPES:
        raise UserError(
            f"request: input '{name}': datatype {datatype!r} is not one of "
            f"{', '.join(sorted(DATATYPES))}"
        )
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise UserError(f"request: input '{name}': shape must be a list of sizes, as [rows]")
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
        raise UserError(
            f"request: input '{name}': shape {shape}; one column per input: [rows] or [rows, 1]"
        )
    data = _flat(tensor.get("data"))
    if len(data) != math.prod(shape):
        raise UserError(
            f"request: input '{name}': shape {shape} holds {math.prod(shape)} "
            f"values, its data {len(data)}"
        )
    return name, data


def _flat(data: Any) -> list:
    """Nested lists as one row-major list; a scalar as a list of one."""
    if not isinstance(data, list):
        return [data]
    flat: list = []
    for item in data:
        flat.extend(_flat(item) if isinstance(item, list) else [item])
    return flat


def _outputs(frame: pd.DataFrame, model: ServedModel) -> list[dict[str, Any]]:
    """The id (when the request sent it), the label (BYTES) and the probabilities (FP64, rows
    by classes, the class names in its parameters)."""
    bundle = model.bundle
    classes = [str(c) for c in bundle.classes]
    rows = len(frame)
    outputs = []
    if bundle.id_column is not None and bundle.id_column in frame.columns:
        ids = frame[bundle.id_column]
        outputs.append({"name": bundle.id_column, "shape": [rows], **_typed(ids)})
    outputs.append(
        {
            "name": bundle.label_column,
            "shape": [rows],
            "datatype": "BYTES",
            "data": [str(label) for label in frame[bundle.label_column]],
        }
    )
    outputs.append(
        {
            "name": PROBABILITIES,
            "shape": [rows, len(classes)],
            "datatype": "FP64",
            "data": frame[classes].to_numpy(dtype=np.float64).ravel().tolist(),
            "parameters": {"classes": classes},
        }
    )
    return outputs


def _typed(values: pd.Series) -> dict[str, Any]:
    """A column's OIP datatype and its data as JSON values."""
    if pd.api.types.is_integer_dtype(values):
        return {"datatype": "INT64", "data": values.astype("int64").tolist()}
    if pd.api.types.is_float_dtype(values):
        return {"datatype": "FP64", "data": values.astype("float64").tolist()}
    return {"datatype": "BYTES", "data": [str(v) for v in values]}


def _requested_outputs(document: dict, names: list[str]) -> set[str] | None:
    """The output names the request asks for, or ``None`` for all of them."""
    requested = document.get("outputs")
    if requested is None:
        return None
    wanted = (
        [o.get("name") for o in requested if isinstance(o, dict)]
        if isinstance(requested, list)
        else []
    )
    if not wanted or len(wanted) != len(requested) or not set(wanted) <= set(names):
        unknown = [str(n) for n in wanted if n not in names]
        raise UserError(
            f"request: outputs: ask for some of {', '.join(names)} by name"
            + (f" (not '{unknown[0]}')" if unknown else "")
        )
    return {str(n) for n in wanted}


def _named(request: Request, model: ServedModel) -> str:
    """The model name in the path, which must be the served model's (404 otherwise)."""
    name = str(request.path_params["name"])
    if name != model.name:
        raise HttpError(404, f"model '{name}' not found; this server serves '{model.name}'")
    return name
