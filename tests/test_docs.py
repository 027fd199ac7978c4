"""The plugin guide quotes the example plugin's real code: each quoted excerpt must still match."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"
BLOCK = re.compile(r"```(?:python|toml)\n# (\S+)\n(.*?)```", re.DOTALL)


def excerpts() -> list[tuple[str, str]]:
    return BLOCK.findall(GUIDE.read_text())


def test_the_guide_quotes_files() -> None:
    assert len(excerpts()) >= 3


@pytest.mark.parametrize(("path", "body"), excerpts(), ids=[p for p, _ in excerpts()])
def test_each_excerpt_is_in_its_file_line_for_line(path: str, body: str) -> None:
    source = (ROOT / path).read_text().splitlines()
    wanted = [line.rstrip() for line in body.splitlines() if line.strip()]
    position = 0
    for line in wanted:
        try:
            position = source.index(line, position) + 1
        except ValueError:
            pytest.fail(f"{path} no longer has (in this order): {line!r}")
