"""The bad input corpus: every file in ``tests/bad_inputs/`` is refused by the command line.

``bad_inputs/good/`` holds a valid recipe, training and test file. Each other folder there is one
case: its files replace the good ones in an empty folder, ``expected.txt`` holds a fragment of
the one line the user must see, and ``args.txt`` (when there) the options that follow the recipe
(``--set search.trails=5``). Each case runs through ``automl validate`` and ``automl search``:
exit status 2, exactly one ``Error: ...`` line on standard error naming the field, file, column
or line, nothing on standard output, no traceback, and nothing written. Cases that cannot be
committed (permissions, a huge line) are made here at run time.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from automl.cli import cli

CORPUS = Path(__file__).parent / "bad_inputs"
GOOD = CORPUS / "good"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir() and p != GOOD)
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
ROOT_REASON = "root reads and writes through file permissions; output-under-a-file covers root"
NOT_COPIED = {"expected.txt", "args.txt"}


def lay_out(folder: Path, case: str | None) -> None:
    """Copy the good files into ``folder``, then the case's files over them."""
    shutil.copytree(GOOD, folder, dirs_exist_ok=True)
    if case is None:
        return
    for source in sorted((CORPUS / case).iterdir()):
        if source.name in NOT_COPIED:
            continue
        target = folder / source.name
        if target.is_file():
            target.unlink()
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)


def listing(folder: Path) -> dict[str, Any]:
    """Every path under ``folder`` with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
    }


def assert_refused(
    folder: Path, before: dict, code: int, out: str, err: str, fragment: str
) -> None:
    """Exit status 2, one ``Error:`` line holding ``fragment``, no traceback, nothing written."""
    lines = err.splitlines()
    assert "Traceback" not in out + err, err
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: "), lines[0]
    assert fragment in lines[0], lines[0]
    assert len(lines[0]) < 400, f"{len(lines[0])} characters"
    assert out == "", out
    assert code == 2, err
    assert listing(folder) == before
    assert not (folder / "run").exists() and not (folder / "runs").exists()


def run_in(folder: Path, *args: str) -> tuple[int, str, str]:
    """``automl ARGS`` in-process from ``folder``: exit status, standard output and error."""
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        result = CliRunner().invoke(cli, list(args))
    finally:
        os.chdir(cwd)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_the_corpus_is_large_enough_and_every_case_says_what_to_expect() -> None:
    assert len(CASES) >= 30
    for case in CASES:
        assert (CORPUS / case / "expected.txt").read_text().strip(), case


def test_the_good_files_are_valid(tmp_path: Path) -> None:
    """Each case breaks one thing in files that are otherwise valid."""
    lay_out(tmp_path, None)
    code, out, err = run_in(tmp_path, "validate", "recipe.yaml")
    assert code == 0, err
    assert "valid. 12 rows" in out


@pytest.mark.parametrize("command", ["validate", "search"])
@pytest.mark.parametrize("case", CASES)
def test_a_bad_input_is_refused_in_one_line(tmp_path: Path, case: str, command: str) -> None:
    lay_out(tmp_path, case)
    before = listing(tmp_path)
    fragment = (CORPUS / case / "expected.txt").read_text().strip()
    arguments = CORPUS / case / "args.txt"
    options = shlex.split(arguments.read_text()) if arguments.is_file() else []
    assert_refused(tmp_path, before, *run_in(tmp_path, command, "recipe.yaml", *options), fragment)


@pytest.mark.parametrize("command", ["validate", "search"])
def test_a_huge_line_is_refused_and_the_message_stays_short(tmp_path: Path, command: str) -> None:
    lay_out(tmp_path, None)
    huge = "9z" * 2_000_000
    text = (GOOD / "train.csv").read_text().replace("3,1.3,blue,b", f"3,{huge},blue,b")
    (tmp_path / "train.csv").write_text(text)
    before = listing(tmp_path)
    fragment = "train.csv: column 'x1' line 5: '9z9z"
    assert_refused(tmp_path, before, *run_in(tmp_path, command, "recipe.yaml"), fragment)


@pytest.mark.skipif(IS_ROOT, reason=ROOT_REASON)
@pytest.mark.parametrize("command", ["validate", "search"])
def test_an_unwritable_output_folder_is_refused(tmp_path: Path, command: str) -> None:
    lay_out(tmp_path, None)
    locked = tmp_path / "locked"
    locked.mkdir()
    recipe = (GOOD / "recipe.yaml").read_text().replace("output: run", "output: locked/run")
    (tmp_path / "recipe.yaml").write_text(recipe)
    locked.chmod(0o555)
    try:
        before = listing(tmp_path)
        fragment = "output: cannot create locked/run"
        assert_refused(tmp_path, before, *run_in(tmp_path, command, "recipe.yaml"), fragment)
    finally:
        locked.chmod(0o755)


@pytest.mark.skipif(IS_ROOT, reason=ROOT_REASON)
def test_an_unreadable_data_file_is_refused(tmp_path: Path) -> None:
    lay_out(tmp_path, None)
    (tmp_path / "train.csv").chmod(0)
    try:
        before = listing(tmp_path)
        fragment = "train.csv: cannot read as a table: [Errno 13] Permission denied"
        assert_refused(tmp_path, before, *run_in(tmp_path, "validate", "recipe.yaml"), fragment)
    finally:
        (tmp_path / "train.csv").chmod(0o644)


@pytest.mark.parametrize("case", ["recipe-misspelled-key", "data-text-in-numeric-column"])
def test_the_real_command_refuses_in_one_line(tmp_path: Path, case: str) -> None:
    """The same through a real ``automl`` process: its standard error is exactly one line."""
    lay_out(tmp_path, case)
    before = listing(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "automl", "search", "recipe.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    fragment = (CORPUS / case / "expected.txt").read_text().strip()
    assert_refused(tmp_path, before, done.returncode, done.stdout, done.stderr, fragment)
