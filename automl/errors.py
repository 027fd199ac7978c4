"""Exceptions that separate a user's mistake from a failed trial."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input: shown as one line, exit status 2, no traceback.

    The message names what is wrong, where (field, file, column or line) and what is allowed.
    """


class TrialFailed(Exception):
    """A trial could not be scored (NaN loss, a backend error); the search records it, goes on."""


class TrialTimedOut(TrialFailed):
    """A trial ran past the recipe's per-trial time limit (``search.trial_timeout``)."""


def failure_reason(exc: BaseException) -> str:
    """A failed trial's reason: the exception's type and first line, at most 300 characters."""
    return f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
