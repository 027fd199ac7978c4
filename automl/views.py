"""What the command line shows: trial lines and tables (rich renderables)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.table import Table

from automl.leaderboard import format_cell
from automl.search import TrialEnd

_BOARD_COLUMNS = (
    "rank",
    "trial",
    "state",
    "std",
    "log_loss",
    "accuracy",
    "epochs",
    "seconds",
    "params",
    "architecture",
    "reason",
)


def trial_line(end: TrialEnd) -> str:
    """One line as a trial ends: number, state, score, epochs, seconds, architecture."""
    attrs = end.attrs
    parts = [f"trial {end.number:>3}", f"{end.state:<8}"]
    if end.value is not None:
        parts.append(f"{end.value:.4f} ± {attrs.get('std', 0.0):.4f}")
    if attrs.get("epochs"):
        parts.append(f"epochs {'/'.join(str(e) for e in attrs['epochs'])}")
    if "seconds" in attrs:
        parts.append(f"{attrs['seconds']:.1f}s")
    parts.append(attrs.get("architecture", ""))
    if end.reason:
        parts.append(f"({end.reason})")
    return "  ".join(p for p in parts if p)


def render_board(board: pd.DataFrame, *, top: int) -> Table:
    """The leaderboard's first ``top`` rows as a table."""
    metric = board.columns[3] if len(board.columns) > 3 else "value"
    columns = [c for c in board.columns if c in _BOARD_COLUMNS or c == metric]
    shown = board.head(top)
    title = f"Leaderboard ({len(shown)} of {len(board)} trials)"
    table = Table(title=title, title_justify="left")
    for column in columns:
        numeric = pd.api.types.is_numeric_dtype(board[column])
        table.add_column(
            column,
            justify="right" if numeric else "left",
            overflow="fold" if column in {"architecture", "reason"} else "ellipsis",
        )
    for _, row in shown.iterrows():
        table.add_row(*(format_cell(row[c]) for c in columns))
    return table


def render_backends(rows: list[dict[str, Any]]) -> Table:
    """Installed backends with package, version, description and options."""
    table = Table(title="Backends", title_justify="left")
    for column in ("name", "package", "version", "description", "options"):
        table.add_column(column)
    for row in rows:
        options = ", ".join(f"{k}={v!r}" for k, v in row["options"].items()) or "-"
        table.add_row(row["name"], row["package"], row["version"], row["description"], options)
    return table
