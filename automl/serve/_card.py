"""The model card's facts, read from a bundle and the run folder around it: plain strings, ready
to be escaped and shown."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from automl.results import BUNDLE_FILE, ModelBundle, format_cell
from automl.run import RunFolder

LEADERBOARD_ROWS = 5
# The leaderboard's columns a card shows, in this order, when the file has them; the metric the
# search ranked by comes third.
_BOARD_HEAD = ("rank", "trial", "state")
_BOARD_TAIL = ("std", "accuracy", "architecture")


@dataclass(frozen=True)
class Table:
    """A header and rows of cells; ``marked`` is the index of the row to highlight, if any."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    marked: int | None = None


@dataclass(frozen=True)
class ModelCard:
    """What a person wants to know about a served model before calling it."""

    target: str
    classes: tuple[str, ...]
    final_model: str
    architecture: str
    members: tuple[tuple[str, float], ...]  # an ensemble's candidates and their weights
    ensemble_method: str | None
    scores: Table  # metric, cross-validation, holdout
    leaderboard: Table | None
    versions: tuple[tuple[str, str], ...]


def model_card(bundle: ModelBundle, source: Path) -> ModelCard:
    """The card of ``bundle``, served from ``source`` (a run folder or a bundle folder, whose
    parent may be a run folder holding the leaderboard)."""
    info = bundle.info
    ensemble = info.get("ensemble") or {}
    board = find_leaderboard(source)
    return ModelCard(
        target=bundle.label_column,
        classes=tuple(str(c) for c in bundle.classes),
        final_model=str(info.get("final_model") or "model"),
        architecture=str(info.get("architecture") or ""),
        members=tuple((str(name), float(weight)) for name, weight in ensemble.items()),
        ensemble_method=info.get("ensemble_method"),
        scores=score_table(info.get("cv"), info.get("holdout")),
        leaderboard=None if board is None else leaderboard_table(board, info),
        versions=tuple((str(k), str(v)) for k, v in (info.get("versions") or {}).items()),
    )


def score_table(cv: dict[str, Any] | None, holdout: dict[str, float] | None) -> Table:
    """One row per metric: the cross-validated mean ± std (the search's metric) and the score on
    the held-out rows."""
    cv, holdout = cv or {}, holdout or {}
    metrics = [m for m in [cv.get("metric"), *holdout] if m]
    rows = []
    for metric in dict.fromkeys(metrics):
        cross = _score(cv.get("mean")) if metric == cv.get("metric") else ""
        if cross and _number(cv.get("std")):
            cross += f" ± {_score(cv['std'])}"
        rows.append((str(metric), cross, _score(holdout.get(metric))))
    return Table(("metric", "cross-validation", "holdout"), tuple(rows))


def find_leaderboard(source: Path) -> Path | None:
    """The run's ``leaderboard.csv``: in ``source`` (a run folder) or in its parent (``source``
    is the run's bundle folder); None when neither holds one."""
    run = source.resolve().parent if (source / BUNDLE_FILE).is_file() else source
    path = RunFolder(run).leaderboard_csv
    return path if path.is_file() else None


def leaderboard_table(path: Path, info: dict[str, Any]) -> Table | None:
    """The top rows of the leaderboard at ``path``, the served model's row marked; None when
    the file cannot be read as a table."""
    try:
        board = pd.read_csv(path, nrows=LEADERBOARD_ROWS)
    except (OSError, ValueError):
        return None
    metric = str((info.get("cv") or {}).get("metric", ""))
    wanted = [*_BOARD_HEAD, metric, *_BOARD_TAIL]
    columns = [c for c in dict.fromkeys(wanted) if c in board.columns]
    if not columns:
        return None
    rows = tuple(tuple(format_cell(_plain(v)) for v in row) for row in board[columns].to_numpy())
    return Table(tuple(columns), rows, _served_row(board, info))


def _served_row(board: pd.DataFrame, info: dict[str, Any]) -> int | None:
    """The index of the row the bundle was made from: the ensemble's row, or its trial's."""
    if "state" in board.columns and info.get("ensemble"):
        hits = board.index[board["state"] == "ensemble"]
    elif "trial" in board.columns and info.get("trial") is not None:
        hits = board.index[board["trial"] == info["trial"]]
    else:
        return None
    return int(hits[0]) if len(hits) else None


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value that :func:`format_cell` formats."""
    return value.item() if hasattr(value, "item") else value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not math.isnan(value)


def _score(value: Any) -> str:
    """A score with four decimals; empty when there is none."""
    return f"{value:.4f}" if _number(value) else ""
