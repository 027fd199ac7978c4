"""Plugin discovery through real entry points (a dist-info folder on sys.path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from automl.errors import UserError
from automl.plugins import LOAD_PLUGINS_ENV, build_registry, plugin_manager, registry

GOOD_PLUGIN = """
import automl
from automl.keras import LocalBackend


class EchoBackend(LocalBackend):
    def __init__(self, depth: int = 2, label: str = "x") -> None:
        super().__init__()
        self.depth = depth


@automl.hookimpl
def register_backends(register):
    register("echo", EchoBackend, description="a test backend")
"""


def install(site: Path, dist: str, module: str, source: str) -> None:
    """Write a module and a .dist-info with an ``automl`` entry point, as pip would."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[automl]\n{module} = {module}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    install(tmp_path, "automl-echo", "automl_echo", GOOD_PLUGIN)
    install(tmp_path, "automl-broken", "automl_broken", "raise ImportError('needs gpu-magic')\n")
    install(
        tmp_path,
        "automl-typo",
        "automl_typo",
        "import automl\n\n@automl.hookimpl\ndef register_backend(register):\n    pass\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(LOAD_PLUGINS_ENV, raising=False)
    return tmp_path


def test_installed_plugins_register_backends_and_broken_ones_are_reported(site: Path) -> None:
    found = build_registry(plugin_manager(), entry_points=True)
    echo = found.backend("echo")
    assert (echo.package, echo.version, echo.description) == (
        "automl-echo",
        "1.2.3",
        "a test backend",
    )
    assert echo.options == {"depth": 2, "label": "x"}
    assert echo.create({"depth": 3}).depth == 3
    failures = {f.package: f.error for f in found.failures}
    assert failures["automl-broken"] == "needs gpu-magic"
    assert "register_backend" in failures["automl-typo"]
    assert "local" in found.backends


def test_the_kill_switch_limits_which_plugins_load(site: Path, monkeypatch) -> None:
    monkeypatch.setenv(LOAD_PLUGINS_ENV, "")
    found = build_registry(plugin_manager(), entry_points=True)
    assert sorted(found.backends) == ["local"] and not found.failures
    monkeypatch.setenv(LOAD_PLUGINS_ENV, "automl-echo")
    found = build_registry(plugin_manager(), entry_points=True)
    assert sorted(found.backends) == ["echo", "local"] and not found.failures


def test_an_unknown_backend_suggests_the_closest_and_lists_installed() -> None:
    with pytest.raises(UserError, match=r"no backend 'locla' \(did you mean 'local'\?\)"):
        registry().backend("locla")


def test_option_values_are_checked_against_the_annotations(site: Path) -> None:
    echo = build_registry(plugin_manager(), entry_points=True).backend("echo")
    with pytest.raises(UserError, match=r"options\.depth: Input should be a valid integer"):
        echo.create({"depth": "deep"})
    with pytest.raises(UserError, match=r"backend.options.width: unknown .*allowed: depth, label"):
        echo.create({"width": 1})


def test_a_backend_name_registered_twice_is_refused(site: Path) -> None:
    manager = plugin_manager()
    import automl_echo

    class Again:
        register_backends = staticmethod(automl_echo.register_backends)

    manager.register(automl_echo, name="first")
    manager.register(Again(), name="second")
    with pytest.raises(UserError, match="backend 'echo' is registered twice"):
        build_registry(manager, entry_points=False)


def test_the_command_line_reports_a_broken_plugin_and_still_works(site: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop(LOAD_PLUGINS_ENV, None)
    listing = subprocess.run(
        [sys.executable, "-m", "automl", "backends", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    found = json.loads(listing.stdout)
    assert {"echo", "local"} <= {b["name"] for b in found["backends"]}
    broken = next(f for f in found["failed_plugins"] if f["package"] == "automl-broken")
    assert broken["error"] == "needs gpu-magic"
    table = subprocess.run(
        [sys.executable, "-m", "automl", "backends"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert table.returncode == 0
    assert "plugin 'automl_broken' (automl-broken) failed to load: needs gpu-magic" in table.stderr
