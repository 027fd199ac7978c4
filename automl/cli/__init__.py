"""The ``automl`` command line: search, predict, leaderboard, report, validate, init, backends and
plugin new; its views (trial lines, a live status line, JSON events, tables)."""

from automl.cli import _bundle, _commands, _search  # noqa: F401 - registers the commands on the group
from automl.cli._app import EXIT_INTERRUPTED, EXIT_NO_TRIAL, EXIT_USER_ERROR, cli, main
from automl.cli._views import JsonEvents, LineDisplay, LiveDisplay

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_NO_TRIAL",
    "EXIT_USER_ERROR",
    "JsonEvents",
    "LineDisplay",
    "LiveDisplay",
    "cli",
    "main",
]
