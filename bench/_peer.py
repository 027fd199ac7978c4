"""Running AutoGluon, the benches' peer, from this product's venv: ``bench/_autogluon.py`` in
the bench-only ``.venv-autogluon`` (``bench/requirements-autogluon.txt``), on files both
systems read."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
AUTOGLUON_PYTHON = ROOT / ".venv-autogluon/bin/python"


@dataclass
class PeerRun:
    """AutoGluon's holdout probabilities (one column per class, as text), its wall time in
    seconds (starting the process included), and its summary; or why it has none."""

    seconds: float
    proba: pd.DataFrame | None = None
    summary: dict = field(default_factory=dict)
    error: str = ""


def peer_python(argument: str) -> Path | None:
    """The ``--autogluon-python`` argument as a path (``None`` for ``none``).

    Raises:
        SystemExit: the interpreter is not there (with how to make it).
    """
    if argument == "none":
        return None
    python = Path(argument)
    if not python.is_file():
        raise SystemExit(
            f"{python} not found: python3 -m venv .venv-autogluon && .venv-autogluon/bin/pip "
            "install -r bench/requirements-autogluon.txt (or pass --autogluon-python none)"
        )
    return python


def run_autogluon(
    python: Path, train_csv: Path, holdout_csv: Path, target: str, id_column: str,
    seconds: float, folder: Path,
) -> PeerRun:  # fmt: skip
    """AutoGluon ``best_quality`` on ``train_csv`` with a ``seconds`` time limit; its
    probabilities of ``holdout_csv``'s rows."""
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    done = subprocess.run(
        [str(python), str(ROOT / "bench/_autogluon.py"), str(train_csv), str(holdout_csv),
         "--target", target, "--id", id_column, "--seconds", str(seconds), "--out", str(folder)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return PeerRun(wall, error=lines[-1])
    summary = json.loads((folder / "summary.json").read_text())
    return PeerRun(wall, pd.read_csv(folder / "proba.csv"), summary)


def row_losses(target: pd.Series, proba: object, labels: list[str]) -> np.ndarray:
    """Each row's log-loss: minus the log of the probability ``proba`` (columns in ``labels``
    order) gives the row's class, compared as text, clipped away from 0 as scikit-learn's
    ``log_loss`` clips (by the probabilities' own precision): their mean is its value."""
    given = np.asarray(proba)
    floor = np.finfo(given.dtype if given.dtype.kind == "f" else np.float64).eps
    codes = pd.Categorical(target.astype(str), categories=labels).codes
    if (codes < 0).any():
        unknown = sorted(set(target[codes < 0].astype(str)))
        raise ValueError(f"classes {unknown} have no probability column (columns: {labels})")
    picked = given[np.arange(len(codes)), codes].astype(np.float64)
    return -np.log(np.clip(picked, floor, 1.0))


def paired_ratio_interval(
    ours: np.ndarray, theirs: np.ndarray, draws: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """The 95% bootstrap interval of mean(``ours``) / mean(``theirs``), two systems' log-losses
    on the same rows, resampled together (paired): how far the holdout's own noise moves the
    ratio."""
    if len(ours) != len(theirs):
        raise ValueError(f"{len(ours)} and {len(theirs)} losses: not the same rows")
    picks = np.random.default_rng(seed).integers(0, len(ours), size=(draws, len(ours)))
    ratios = ours[picks].mean(axis=1) / theirs[picks].mean(axis=1)
    low, high = np.quantile(ratios, [0.025, 0.975])
    return float(low), float(high)


def recipe_overrides(fields: list[str]) -> dict[str, object]:
    """``--set FIELD=VALUE`` arguments as recipe overrides, each value read as YAML."""
    overrides: dict[str, object] = {}
    for assignment in fields:
        name, _, value = assignment.partition("=")
        overrides[name] = yaml.safe_load(value)
    return overrides
