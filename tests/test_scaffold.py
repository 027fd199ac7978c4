"""``automl plugin new``: the generated package installs, is listed and passes the contract."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from automl.cli import cli


def test_plugin_new_writes_a_package_and_refuses_bad_names(tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(cli, ["plugin", "new", "fast_gpu", "--directory", str(tmp_path)])
    assert done.exit_code == 0, done.output
    package = tmp_path / "automl-fast-gpu"
    assert (package / "src" / "automl_fast_gpu" / "backend.py").is_file()
    assert 'fast_gpu = "automl_fast_gpu.plugin"' in (package / "pyproject.toml").read_text()
    compile((package / "src/automl_fast_gpu/backend.py").read_text(), "backend.py", "exec")
    again = runner.invoke(cli, ["plugin", "new", "fast_gpu", "--directory", str(tmp_path)])
    assert again.exit_code == 2 and "exists" in again.output
    bad = runner.invoke(cli, ["plugin", "new", "Fast-GPU", "--directory", str(tmp_path)])
    assert bad.exit_code == 2 and "plugin name 'Fast-GPU'" in bad.output


@pytest.mark.slow
def test_the_generated_plugin_installs_is_listed_and_passes_the_contract(tmp_path: Path) -> None:
    assert CliRunner().invoke(cli, ["plugin", "new", "demo", "--directory", str(tmp_path)])
    package, site = tmp_path / "automl-demo", tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(package),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    listing = subprocess.run(
        [sys.executable, "-m", "automl", "backends", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    demo = next(b for b in json.loads(listing.stdout)["backends"] if b["name"] == "demo")
    assert (demo["package"], demo["options"]) == ("automl-demo", {"verbose": 0})
    suite = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests")],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert suite.returncode == 0, suite.stdout[-3000:]
    summary = suite.stdout.strip().splitlines()[-1]
    assert re.match(r"\d+ passed", summary) and " failed" not in summary, summary
