"""What the command line shows: trial lines, a live status line, JSON events and tables."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from automl.events import Progress, SearchPlan, TrialEnd
from automl.results import format_cell

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


def reference_line(name: str, value: float, attrs: dict[str, Any]) -> str:
    """One line as a reference is scored, laid out as :func:`trial_line`."""
    std, seconds = attrs.get("std", 0.0), attrs.get("seconds", 0.0)
    described = attrs.get("architecture", "")
    return f"{name:<11}  {value:.4f} ± {std:.4f}  {seconds:.1f}s  {described}"


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


class LineDisplay(Progress):
    """Plain lines, one per trial: for logs, CI and anything that is not a terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def trial_ended(self, end: TrialEnd, best: float | None) -> None:
        """Print the trial's line."""
        self.console.print(trial_line(end), soft_wrap=True, markup=False, highlight=False)

    def reference_ended(self, name: str, value: float, attrs: dict[str, Any], best: float) -> None:
        """Print the reference's line."""
        line = reference_line(name, value, attrs)
        self.console.print(line, soft_wrap=True, markup=False, highlight=False)


class LiveDisplay(LineDisplay):
    """A live status line under the trial lines: budget, best so far, current fold and epoch."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self._live = Live(console=console, auto_refresh=True, refresh_per_second=4, transient=True)
        self._started = time.monotonic()
        self._plan: SearchPlan | None = None
        self._done = 0
        self._best: float | None = None
        self._trial = -1
        self._now = ""

    def search_started(self, plan: SearchPlan) -> None:
        """Start the live line."""
        self._plan = plan
        self._started = time.monotonic()
        self._live.start()
        self._show()

    def trial_started(self, number: int) -> None:
        """Show the new trial."""
        self._trial = number
        self._now = f"trial {number}: starting"
        self._show()

    def epoch_ended(self, fold: int, epoch: int, logs: dict[str, float]) -> None:
        """Show the current fold and epoch with the validation loss."""
        loss = f" val_loss {logs['val_loss']:.4f}" if "val_loss" in logs else ""
        folds, epochs = (self._plan.folds, self._plan.max_epochs) if self._plan else ("?", "?")
        self._now = f"trial {self._trial}: fold {fold + 1}/{folds} epoch {epoch}/{epochs}{loss}"
        self._show()

    def trial_ended(self, end: TrialEnd, best: float | None) -> None:
        """Print the trial's line above the live line."""
        self._done += 1
        self._best = best
        self._live.console.print(trial_line(end), soft_wrap=True, markup=False, highlight=False)
        self._show()

    def reference_ended(self, name: str, value: float, attrs: dict[str, Any], best: float) -> None:
        """Print the reference's line above the live line; its score may be the best so far."""
        self._best = best
        line = reference_line(name, value, attrs)
        self._live.console.print(line, soft_wrap=True, markup=False, highlight=False)
        self._show()

    def search_ended(self) -> None:
        """Remove the live line, so the leaderboard prints on a clean screen."""
        self._live.stop()

    def _show(self) -> None:
        plan = self._plan
        elapsed = time.monotonic() - self._started
        planned = plan.planned if plan else None
        parts = [f"trials {self._done}" + (f"/{planned}" if planned else "")]
        if plan and plan.timeout:
            parts.append(f"{max(0.0, plan.timeout - elapsed) / 60:.1f} min left")
        if self._best is not None and plan:
            parts.append(f"best {plan.metric} {self._best:.4f}")
        parts += [self._now, f"{elapsed:.0f}s"]
        self._live.update(Text(" · ".join(p for p in parts if p), style="bold"))


class JsonEvents(Progress):
    """One JSON object per line for each trial's start and end (machine-readable progress)."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit = emit

    def search_started(self, plan: SearchPlan) -> None:
        """Emit the plan."""
        self._send({"event": "search_started", **dataclasses.asdict(plan)})

    def trial_started(self, number: int) -> None:
        """Emit the trial's start."""
        self._send({"event": "trial_started", "trial": number})

    def reference_ended(self, name: str, value: float, attrs: dict[str, Any], best: float) -> None:
        """Emit the reference's result and the best value so far."""
        shown = {k: attrs.get(k) for k in ("std", "seconds", "architecture")}
        self._send(
            {"event": "reference_ended", "reference": name, "value": value, "best": best, **shown}
        )

    def trial_ended(self, end: TrialEnd, best: float | None) -> None:
        """Emit the trial's result and the best value so far."""
        attrs = {k: end.attrs.get(k) for k in ("std", "epochs", "seconds", "architecture")}
        self._send(
            {
                "event": "trial_ended",
                "trial": end.number,
                "state": end.state,
                "value": end.value,
                "reason": end.reason,
                "best": best,
                **attrs,
            }
        )

    def _send(self, event: dict[str, Any]) -> None:
        self.emit(json.dumps(event, default=str))
