"""The code base stays ruff clean (lint, format) and mypy clean: the test command enforces it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]])
def test_ruff(command: list[str]) -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is installed with the test extra: pip install -e '.[test]'"
    done = subprocess.run([ruff, *command], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy() -> None:
    """mypy reads its files and settings from pyproject.toml's [tool.mypy]."""
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")
    assert mypy, "mypy is installed with the test extra: pip install -e '.[test]'"
    done = subprocess.run([mypy], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_test_imports_conftest_by_name() -> None:
    """Several conftest.py files meet in one run (tests/ and each plugin's): the name is
    ambiguous there, so shared helpers live in importable modules such as sample_tables."""
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("tests", "plugins")
        for path in (ROOT / folder).rglob("test_*.py")
        if path != Path(__file__).resolve() and "from conftest import" in path.read_text("utf-8")
    ]
    assert offenders == []
