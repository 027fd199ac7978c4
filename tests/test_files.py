"""Atomic writes and the recovery of what a killed write leaves behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from automl._files import recover, replace_folder, write_text


def dead_pid() -> int:
    """The id of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_recover_clears_a_dead_writers_leftovers_and_puts_a_retired_folder_back(
    tmp_path: Path,
) -> None:
    dead, alive = dead_pid(), os.getpid()
    write_text(tmp_path / "leaderboard.csv", "trial\n0\n")
    (tmp_path / f".leaderboard.csv.{dead}.k3j9x0ab.tmp").write_text("tri")  # killed mid-write
    retired = tmp_path / f".best.{dead}.old"  # killed between the two renames: no best/
    retired.mkdir()
    (retired / "bundle.json").write_text("{}")
    (tmp_path / f".best.{dead}.a1b2c3d4").mkdir()  # a staging folder half filled
    trials = tmp_path / "trials"
    trials.mkdir()
    (trials / f".abc.{dead}.zz99zz99").mkdir()
    live = tmp_path / f".run.json.{alive}.q1w2e3r4.tmp"  # a write in progress elsewhere
    live.write_text("{")
    (tmp_path / ".gitignore").write_text("*\n")

    touched = recover(tmp_path)

    assert sorted(touched) == sorted(
        [
            f".leaderboard.csv.{dead}.k3j9x0ab.tmp",
            f".best.{dead}.old",
            f".best.{dead}.a1b2c3d4",
            f"trials/.abc.{dead}.zz99zz99",
        ]
    )
    assert (tmp_path / "best" / "bundle.json").read_text() == "{}"
    assert live.exists() and (tmp_path / ".gitignore").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".gitignore", live.name, "best", "leaderboard.csv", "trials"]
    )
    assert list(trials.iterdir()) == []


def test_writes_leave_only_the_artifact(tmp_path: Path) -> None:
    write_text(tmp_path / "run.json", "{}\n")
    replace_folder(tmp_path / "best", lambda folder: (folder / "a").write_text("1"))
    replace_folder(tmp_path / "best", lambda folder: (folder / "b").write_text("2"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", "run.json"]
    assert [p.name for p in (tmp_path / "best").iterdir()] == ["b"]
