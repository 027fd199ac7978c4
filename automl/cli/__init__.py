"""The ``automl`` command line: search, predict, evaluate, serve, leaderboard, report, validate,
init, backends and plugin new; its views (trial lines, a live status line, JSON events, tables)."""

# Importing the command modules registers their commands on the group.
from automl.cli import _bundle, _commands, _evaluate, _search, _serve  # noqa: F401
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
