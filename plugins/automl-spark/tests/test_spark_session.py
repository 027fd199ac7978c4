"""The session helper's one-line errors, and the settings it gives a local master."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from automl.cli import cli
from automl.errors import UserError
from automl.testing import tiny_table
from automl_spark.session import (
    SessionOptions,
    check_master_reachable,
    find_java,
    session_conf,
    spark_session,
    threads_per_task,
)


def test_a_master_nobody_listens_on_is_a_user_error_within_the_timeout() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UserError, match=rf"backend.options.master: cannot reach .*:{port}"):
        check_master_reachable(f"spark://127.0.0.1:{port}", timeout=2)


def test_a_malformed_master_url_is_a_user_error() -> None:
    with pytest.raises(UserError, match="expected spark://HOST:PORT"):
        check_master_reachable("spark://no-port", timeout=1)


def test_java_is_looked_up_in_java_home_then_on_path(tmp_path: Path) -> None:
    assert find_java({"PATH": str(tmp_path)}) is None
    assert find_java({"JAVA_HOME": str(tmp_path), "PATH": "/usr/bin"}) is None
    (tmp_path / "bin").mkdir()
    java = tmp_path / "bin" / "java"
    java.write_text("#!/bin/sh\n")
    java.chmod(0o755)
    assert find_java({"JAVA_HOME": str(tmp_path)}) == str(java)


def test_without_pyspark_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "pyspark" or m.startswith("pyspark.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyspark", None)  # what an uninstalled package imports as
    with pytest.raises(UserError, match="pip install automl-spark"):
        spark_session(SessionOptions())


def test_a_local_master_runs_this_interpreter_on_loopback_and_passes_conf_through() -> None:
    conf = session_conf(SessionOptions("local[2]", {"spark.executor.memory": "2g"}))
    assert conf["spark.pyspark.python"] == sys.executable
    assert conf["spark.driver.host"] == "127.0.0.1"
    assert conf["spark.executor.memory"] == "2g"
    assert "spark.pyspark.python" not in session_conf(SessionOptions("spark://h:7077"))


def test_the_running_session_is_reused_and_another_master_refused(spark: Any) -> None:
    again, started = spark_session(SessionOptions("local[2]"))
    assert again is spark and not started
    with pytest.raises(UserError, match="already runs Spark on 'local\\[2\\]'"):
        spark_session(SessionOptions("local[3]"))
    assert threads_per_task(spark) >= 1


def test_an_unreachable_master_stops_the_search_before_any_trial(tmp_path: Path) -> None:
    tiny_table().to_csv(tmp_path / "train.csv", index=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recipe = {
        "name": "nowhere",
        "data": {"train": "train.csv", "target": "label"},
        "backend": {"name": "spark-sync", "options": {"master": f"spark://127.0.0.1:{port}"}},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    run_dir = tmp_path / "run"
    done = CliRunner().invoke(
        cli, ["search", str(tmp_path / "recipe.yaml"), "--output", str(run_dir)]
    )
    assert done.exit_code == 2
    assert f"cannot reach the Spark master at 127.0.0.1:{port}" in done.output
    assert "Traceback" not in done.output and not run_dir.exists()


def test_the_plugin_uses_nothing_spark_connect_lacks() -> None:
    """Spark Connect clients have no SparkContext, RDDs, broadcasts or JVM gateway; the plugin's
    code must reach Spark through the DataFrame API only (docstrings may name them)."""
    import ast

    import automl_spark

    forbidden = {"sparkContext", "SparkContext", "_jsc", "_jvm", "rdd", "broadcast", "parallelize"}
    found = []
    for path in Path(automl_spark.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
            if isinstance(node, ast.alias):
                name = node.name.rsplit(".", 1)[-1]
            if name in forbidden:
                found.append(f"{path.name}:{node.lineno}: {name}")  # type: ignore[attr-defined]
    assert not found, found
