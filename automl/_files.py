"""Atomic writes: a killed run never leaves a half-written artifact."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; rename it over ``path`` when the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    temporary.chmod(0o666 & ~_umask())  # mkstemp makes 0600; artifacts get the usual mode
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def replace_folder(path: Path, fill: Callable[[Path], None]) -> None:
    """Build a folder with ``fill`` beside ``path``, then swap it in for ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=_prefix(path), dir=path.parent))
    retired = path.with_name(f"{_prefix(path)}old")
    try:
        fill(staging)
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; the bundle gets the usual mode
        shutil.rmtree(retired, ignore_errors=True)
        if path.exists():
            os.replace(path, retired)
        os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)


def _prefix(path: Path) -> str:
    """``.<name>.<pid>.``: what a write's temporary names start with, and whose they are."""
    return f".{path.name}.{os.getpid()}."


# What a killed write leaves: ``.<name>.<pid>.<8 random characters>[.tmp]`` from ``tempfile`` and
# the retired ``.<name>.<pid>.old`` of :func:`replace_folder`.
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.(?:[a-z0-9_]{8}(?:\.tmp)?|old)$")


def recover(folder: Path) -> list[str]:
    """Clear what killed writes left under ``folder``; return the paths removed or restored.

    Temporary files and staging folders of processes that are gone are removed (a live process
    may be writing them). A retired ``.<name>.<pid>.old`` folder whose ``<name>`` is missing (a
    kill between :func:`replace_folder`'s two renames) is put back.
    """
    touched = []
    for parent, folders, files in os.walk(folder):
        for entry in [*folders, *files]:
            match = _TEMPORARY.match(entry)
            if match is None or _alive(int(match["pid"])):
                continue
            path = Path(parent) / entry
            original = path.with_name(match["name"])
            if entry.endswith(".old") and path.is_dir() and not original.exists():
                os.replace(path, original)
            elif path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            touched.append(str(path.relative_to(folder)))
        folders[:] = [f for f in folders if not _TEMPORARY.match(f)]
    return touched


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (this one included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
