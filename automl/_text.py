"""Small text helpers shared by error messages and labels."""

from __future__ import annotations

import difflib
import numbers
import re
from collections.abc import Iterable

import numpy as np


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def natural_key(value: object) -> tuple:
    """Sort key that orders ``Class_2`` before ``Class_10`` and numbers numerically."""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return (0, float(value), "")
    parts = re.split(r"(\d+)", str(value))
    return (1, 0.0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts))
