"""Every user mistake: one `Error: ...` line, exit status 2, no traceback, nothing written.

Each case writes a recipe and a data file into an empty folder, runs the real CLI there and checks
the answer. ``search`` cases prove the search stops before it creates the run folder.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from automl.cli import cli

FOLDER = object()  # write a folder, not a file
DROP = object()  # remove this key from the good recipe

HEADER = "id,x1,colour,label"
GOOD_ROWS = [f"{i},{i % 2 + i / 10},{('red', 'blue')[i % 2]},{'ab'[i % 2]}" for i in range(12)]
GOOD_RECIPE: dict[str, Any] = {
    "name": "bad",
    "data": {"train": "train.csv", "target": "label", "id": "id", "holdout": 0.2},
    "search": {"trials": 1, "folds": 2, "pruner": "none"},
    "space": {"layers": 1, "units": 4, "batch_size": 8},
    "training": {"max_epochs": 1},
    "output": "run",
}


def recipe(**changes: Any) -> dict[str, Any]:
    """The good recipe with sections merged in (``data={"id": "x"}``); DROP removes a key."""
    merged = copy.deepcopy(GOOD_RECIPE)
    for section, value in changes.items():
        if value is DROP:
            merged.pop(section)
        elif isinstance(value, dict) and isinstance(merged.get(section), dict):
            merged[section].update(value)
            merged[section] = {k: v for k, v in merged[section].items() if v is not DROP}
        else:
            merged[section] = value
    return merged


def table(*edits: tuple[int, str], rows: list[str] | None = None) -> str:
    """The good CSV (or ``rows``) with row ``i`` replaced; row ``i`` is on file line ``i + 2``."""
    body = list(GOOD_ROWS if rows is None else rows)
    for index, row in edits:
        body[index] = row
    return "\n".join([HEADER, *body]) + "\n"


GOOD_CSV = table()


def case(id_: str, files: dict[str, Any], fragment: str, command: str = "validate") -> Any:
    """One row of the table: what to write, which command to run, what the line must say."""
    return pytest.param(files, command, fragment, id=id_)


def with_recipe(train_csv: str | bytes | object = GOOD_CSV, /, **changes: Any) -> dict[str, Any]:
    """Files for a case: ``recipe.yaml`` (the good one plus ``changes``) and ``train.csv``."""
    return {"recipe.yaml": recipe(**changes), "train.csv": train_csv}


CASES = [
    # --- the recipe -----------------------------------------------------------------------------
    case("unknown-key", {**with_recipe(), "recipe.yaml": {**recipe(), "serach": {}}},
         "unknown field 'serach' (did you mean 'search'?)"),
    case("unknown-nested-key", with_recipe(search={"trails": 3}),
         "search: unknown field 'trails' (did you mean 'trials'?)"),
    case("wrong-type", with_recipe(search={"trials": "many"}),
         "search.trials: Input should be a valid integer, unable to parse string as an integer, "
         "got 'many'"),
    case("empty-range", with_recipe(space={"units": {"low": 64, "high": 8}}),
         "space.units: empty range"),
    case("log-range-low-0",
         with_recipe(space={"learning_rate": {"low": 0, "high": 0.1, "log": True}}),
         "space.learning_rate: a log range needs low > 0"),
    case("empty-choices", with_recipe(space={"activation": []}),
         "space.activation: List should have at least 1 item"),
    case("activation-not-allowed", with_recipe(space={"activation": ["relu", "sigmoidish"]}),
         "space.activation.1: Input should be 'relu', 'elu', 'selu', 'gelu', 'swish', 'tanh', "
         "'leaky_relu', 'mish' or 'softplus', got 'sigmoidish'"),
    case("hidden-units-and-layers", with_recipe(space={"hidden_units": [8, 4]}),
         "space: give either hidden_units or layers and units, not both"),
    case("no-data-section", with_recipe(data=DROP), "recipe.yaml: data: Field required"),
    case("no-data-target", with_recipe(data={"target": DROP}), "data.target: Field required"),
    case("yaml-syntax", {"recipe.yaml": "name: bad\ndata: {train: train.csv\nsearch:\n"},
         "recipe.yaml line 3: "),
    case("empty-recipe", {"recipe.yaml": ""}, "the recipe is empty"),
    case("recipe-is-list", {"recipe.yaml": "- name\n- data\n"}, "a recipe is a mapping"),
    case("recipe-is-folder", {"recipe.yaml": FOLDER}, "recipe.yaml: is a folder"),
    case("recipe-missing", {}, "recipe.yaml: recipe file not found"),
    case("timeout-not-duration", with_recipe(search={"timeout": "soon"}),
         "search.timeout: 'soon' is not a duration"),
    case("backend-unknown", with_recipe(backend={"name": "locl"}),
         "backend.name: no backend 'locl' (did you mean 'local'?)"),
    case("backend-option-unknown",
         with_recipe(backend={"name": "local", "options": {"jit": True}}),
         "backend.options.jit: unknown option"),
    case("metric-not-allowed", with_recipe(search={"metric": "auc"}),
         "search.metric: Input should be 'log_loss', 'accuracy'"),
    case("units-below-1", with_recipe(space={"units": {"low": 0, "high": 8}}),
         "space.units: values must be at least 1, got 0"),
    case("batch-size-0", with_recipe(space={"batch_size": [0, 32]}),
         "space.batch_size: values must be at least 1"),
    case("dropout-not-a-fraction", with_recipe(space={"dropout": {"low": 0.1, "high": 1.0}}),
         "space.dropout: values must be below 1.0"),
    case("input-dropout-not-a-fraction", with_recipe(space={"input_dropout": 1.0}),
         "space.input_dropout: values must be below 1.0"),
    case("ensemble-method-unknown", with_recipe(ensemble={"method": "blend"}),
         "ensemble.method: Input should be 'greedy', 'stack' or 'auto', got 'blend'"),
    case("extra-trees-none", with_recipe(extra_trees={"enabled": True, "trees": 0}),
         "extra_trees.trees: Input should be greater than or equal to 1"),
    case("catboost-deep", with_recipe(catboost={"enabled": True, "depth": 17}),
         "catboost.depth: Input should be less than or equal to 16"),
    case("lightgbm-one-leaf", with_recipe(lightgbm={"enabled": True, "leaves": 1}),
         "lightgbm.leaves: Input should be greater than or equal to 2"),
    case("learning-rate-not-positive", with_recipe(space={"learning_rate": -0.01}),
         "space.learning_rate: values must be above 0.0"),
    case("duplicated-yaml-key", {"recipe.yaml": "name: a\nsearch: {trials: 1}\nsearch: {}\n"},
         "recipe.yaml line 3: key 'search' appears twice"),
    case("recipe-not-utf8", {"recipe.yaml": "name: caf\xe9\n".encode("latin-1")},
         "recipe.yaml: not a UTF-8 text file"),
    case("id-is-target", with_recipe(data={"id": "label"}),
         "data: id and target both name column 'label'"),
    case("storage-not-a-url", with_recipe(search={"storage": "study.db"}),
         "search.storage: 'study.db' is not a database URL"),
    case("storage-unknown-database", with_recipe(search={"storage": "mongo://host/db"}),
         "search.storage: unknown database 'mongo'"),
    case("backend-option-bad-value", with_recipe(backend={"options": {"jit_compile": "maybe"}}),
         "backend.options.jit_compile: Input should be a valid boolean"),
    # --- the data -------------------------------------------------------------------------------
    case("data-missing", {"recipe.yaml": recipe()}, "train.csv: data file not found"),
    case("data-is-folder", with_recipe(FOLDER), "train.csv: is a folder"),
    case("data-empty", with_recipe(b""), "train.csv: the file is empty"),
    case("data-header-only", with_recipe(HEADER + "\n"), "train.csv: the file has a header"),
    case("target-column-missing", with_recipe(data={"target": "lable"}),
         "data.target column 'lable' not found"),
    case("id-column-missing", with_recipe(data={"id": "ident"}),
         "data.id column 'ident' not found"),
    case("one-class", with_recipe(table(rows=[f"{i},{i},red,a" for i in range(12)])),
         "target 'label' has only one class"),
    case("fewer-rows-than-folds",
         with_recipe(table((1, "1,1,blue,c"), (3, "3,1,blue,c")),
                     data={"holdout": 0}, search={"folds": 3}),
         "class 'c' has 2 rows for the search, fewer than search.folds (3)"),
    case("text-in-numeric-column", with_recipe(table((3, "3,abc,blue,b"))),
         "column 'x1' line 5: 'abc' is not a number"),
    case("infinite-value", with_recipe(table((4, "4,inf,red,a"))),
         "column 'x1' line 6: infinite"),
    case("duplicated-column", with_recipe("id,x1,x1,label\n" + "".join(
        f"{i},{i},{i},{'ab'[i % 2]}\n" for i in range(12))), "column 'x1' appears more than once"),
    case("drop-column-missing", with_recipe(data={"drop": ["notes"]}),
         "data.drop column 'notes' not found; columns are id, x1, colour, label"),
    case("categorical-column-missing", with_recipe(data={"categorical": ["color"]}),
         "data.categorical column 'color' not found"),
    case("test-file-missing", with_recipe(data={"test": "test.csv"}),
         "test.csv: data file not found"),
    case("test-file-lacks-a-column",
         {**with_recipe(data={"test": "test.csv"}), "test.csv": "id,x1,label\n1,0.5,a\n"},
         "test.csv: feature column 'colour' is missing"),
    case("binary-file", with_recipe(bytes(range(128, 256)) * 4), "train.csv: not UTF-8"),
    case("single-row-class-with-holdout", with_recipe(table((1, "1,1,blue,c"))),
         "class 'c' has 1 row; a holdout split needs at least 2"),
    # --- search stops before it writes anything ---------------------------------------------------
    case("search-unknown-key", with_recipe(search={"trails": 3}), "did you mean 'trials'",
         command="search"),
    case("search-backend-unknown", with_recipe(backend={"name": "locl"}),
         "did you mean 'local'", command="search"),
    case("search-text-in-numeric-column", with_recipe(table((3, "3,abc,blue,b"))),
         "column 'x1' line 5", command="search"),
    case("search-test-file-missing", with_recipe(data={"test": "test.csv"}),
         "test.csv: data file not found", command="search"),
    case("search-storage-not-a-url", with_recipe(search={"storage": "study.db"}),
         "is not a database URL", command="search"),
    case("search-storage-unreachable",
         with_recipe(search={"storage": "sqlite:////no/such/folder/study.db"}),
         "search.storage: cannot open sqlite:////no/such/folder/study.db", command="search"),
    case("search-fewer-rows-than-folds",
         with_recipe(data={"holdout": 0}, search={"folds": 7}),
         "fewer than search.folds (7)", command="search"),
]  # fmt: skip


def write_files(folder: Path, files: dict[str, Any]) -> None:
    for name, content in files.items():
        path = folder / name
        if content is FOLDER:
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, dict):
            path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        else:
            path.write_text(content, encoding="utf-8")


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def run_cli(*args: str) -> Any:
    """Run ``automl ARGS`` in the current folder (the ``work`` fixture's)."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_good_inputs_are_valid(work: Path) -> None:
    """Each case breaks one thing in inputs that are otherwise valid."""
    write_files(work, with_recipe())
    result = run_cli("validate", "recipe.yaml")
    assert result.exit_code == 0, result.output
    assert "valid. 12 rows" in result.output


@pytest.mark.parametrize(("files", "command", "fragment"), CASES)
def test_bad_input_is_one_line(work: Path, files: dict, command: str, fragment: str) -> None:
    write_files(work, files)
    before = listing(work)

    result = run_cli(command, "recipe.yaml")

    lines = result.output.splitlines()
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert lines[0].removeprefix("Error: ").strip(), result.output
    assert fragment in lines[0], lines[0]
    assert result.exit_code == 2, result.output
    assert not (work / "run").exists()
    assert listing(work) == before


@pytest.mark.parametrize("package", ["catboost", "lightgbm"])
def test_a_booster_reference_without_its_package_is_refused(
    work: Path, monkeypatch: pytest.MonkeyPatch, package: str
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # as on a machine without it
    write_files(work, with_recipe(**{package: {"enabled": True}}))
    result = run_cli("validate", "recipe.yaml")
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"Error: recipe.yaml: {package}.enabled: needs the {package} package: "
        f"pip install 'automl[{package}]'"
    ]


def test_search_leaves_an_existing_run_folder_alone(work: Path) -> None:
    """A bad input on a second call changes nothing in the run folder of the first."""
    write_files(work, with_recipe(table((3, "3,abc,blue,b"))))
    run = work / "run"
    run.mkdir()
    (run / "leaderboard.csv").write_text("trial,value\n0,0.5\n", encoding="utf-8")
    before = {p: p.read_bytes() for p in run.rglob("*")}

    result = run_cli("search", "recipe.yaml", "--fresh")

    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert {p: p.read_bytes() for p in run.rglob("*")} == before
