"""``automl predict`` (label and probabilities) and ``automl evaluate`` on real tiny bundles."""

from __future__ import annotations

import json
import warnings
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from sample_tables import make_table
from sklearn import metrics as skm
from test_bad_inputs_corpus import CORPUS, GOOD, assert_refused, lay_out, listing, run_in

from automl.cli import cli
from automl.data import FeatureSchema, fit_transform
from automl.keras import LocalBackend
from automl.metrics import score_report
from automl.results import Member, ModelBundle
from automl.spec import ModelSpec
from automl.training import TrainSettings

CLASSES = ("Class_1", "Class_2", "Class_10")
# Corpus cases about training, not about reading rows: evaluate scores rows of one class, carries
# no ids, accepts a column empty in every row, and words a missing target in its own terms.
TRAINING_ONLY = {
    "data-one-class",
    "data-duplicate-id",
    "data-empty-feature-column",
    "data-target-column-missing",
}
DATA_FILES = {"train.csv", "test.csv"}


def _data_file(case: str) -> str | None:
    """The case's one data file, when a data file is all it replaces."""
    names = {p.name for p in (CORPUS / case).iterdir()} - {"expected.txt"}
    return names.pop() if len(names) == 1 and names <= DATA_FILES else None


ROW_CASES = sorted(
    case
    for case in (p.name for p in CORPUS.iterdir() if p.is_dir() and p != GOOD)
    if _data_file(case) and case not in TRAINING_ONLY
)


def _train(table: pd.DataFrame, schema: FeatureSchema, classes: tuple, target: str) -> ModelBundle:
    preprocessor, (x,) = fit_transform(schema, table[list(schema.columns)])
    y = table[target].map({c: code for code, c in enumerate(classes)}).to_numpy()
    spec = ModelSpec(hidden_units=(8,), learning_rate=0.05)
    model = LocalBackend().fit(spec, x, y, len(classes), TrainSettings(1), 30)
    return ModelBundle([Member(model, preprocessor)], classes, schema, "id", {"target": target})


@pytest.fixture(scope="module")
def three_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved three-class bundle whose target column is named ``kind``."""
    table = make_table().rename(columns={"label": "kind"})
    schema = FeatureSchema(("x1", "x2", "colour"), ("colour",))
    path = tmp_path_factory.mktemp("three") / "best"
    _train(table, schema, CLASSES, "kind").save(path)
    return path


@pytest.fixture(scope="module")
def two_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved bundle trained on the corpus's good training file (classes a and b)."""
    table = pd.read_csv(GOOD / "train.csv")
    schema = FeatureSchema(("x1", "colour"), ("colour",))
    path = tmp_path_factory.mktemp("two") / "best"
    _train(table, schema, ("a", "b"), "label").save(path)
    return path


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """Rows the three-class bundle never saw, with their true ``kind``, shuffled; every fifth
    label is moved to the next class, so that no figure is perfect."""
    rows = make_table(rows=45, seed=7).rename(columns={"label": "kind"})
    moved = rows.index % 5 == 0
    rows.loc[moved, "kind"] = rows.loc[moved, "kind"].map(
        dict(zip(CLASSES, CLASSES[1:] + CLASSES[:1], strict=True))
    )
    rows = rows.sample(frac=1.0, random_state=2).reset_index(drop=True)
    path = tmp_path_factory.mktemp("rows") / "labelled.csv"
    rows.to_csv(path, index=False)
    return path, rows


def _invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_predict_writes_id_then_the_label_then_the_probabilities(three_classes, labelled) -> None:
    path, rows = labelled
    done = _invoke("predict", three_classes, path)
    assert done.exit_code == 0, done.output
    predicted = _read(done.stdout)
    assert list(predicted.columns) == ["id", "kind", *CLASSES]
    assert predicted["id"].tolist() == rows["id"].tolist()
    proba = predicted[list(CLASSES)].to_numpy()
    expected = ModelBundle.load(three_classes).predict_proba(rows)
    np.testing.assert_allclose(proba, expected, atol=1e-6)
    assert predicted["kind"].tolist() == [CLASSES[i] for i in proba.argmax(axis=1)]
    assert predicted["kind"].nunique() > 1  # a real check: the rows are not all one class


def test_predict_proba_only_keeps_id_and_one_column_per_class(three_classes, labelled) -> None:
    path, _ = labelled
    with_label = _read(_invoke("predict", three_classes, path).stdout)
    done = _invoke("predict", three_classes, path, "--proba-only")
    assert done.exit_code == 0, done.output
    proba_only = _read(done.stdout)
    assert list(proba_only.columns) == ["id", *CLASSES]
    pd.testing.assert_frame_equal(proba_only, with_label.drop(columns="kind"))


def test_evaluate_json_gives_sklearns_figures_on_the_same_rows(three_classes, labelled) -> None:
    path, rows = labelled
    done = _invoke("evaluate", three_classes, path, "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    y = rows["kind"].map({c: code for code, c in enumerate(CLASSES)}).to_numpy()
    proba = ModelBundle.load(three_classes).predict_proba(rows)
    predicted = proba.argmax(axis=1)
    assert report["rows"] == len(rows)
    assert report["log_loss"] == pytest.approx(skm.log_loss(y, proba), abs=1e-6)
    assert report["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted))
    assert report["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, predicted))
    assert "roc_auc" not in report  # three classes
    precision, recall, _, support = skm.precision_recall_fscore_support(y, predicted)
    assert [c["class"] for c in report["classes"]] == list(CLASSES)
    assert [c["precision"] for c in report["classes"]] == pytest.approx(precision)
    assert [c["recall"] for c in report["classes"]] == pytest.approx(recall)
    assert [c["support"] for c in report["classes"]] == support.tolist() == [15, 15, 15]


def test_evaluate_prints_the_same_figures_as_tables(three_classes, labelled) -> None:
    path, _ = labelled
    report = json.loads(_invoke("evaluate", three_classes, path, "--json").stdout)
    done = _invoke("evaluate", three_classes, path)
    assert done.exit_code == 0, done.output
    assert f"{path}: 45 rows, target 'kind'" in done.stdout
    for name in ("log_loss", "accuracy", "balanced_accuracy"):
        assert f"{name}" in done.stdout and f"{report[name]:.4f}" in done.stdout
    for row in report["classes"]:
        line = next(x for x in done.stdout.splitlines() if f" {row['class']} " in x)
        assert f"{row['precision']:.4f}" in line and f"{row['recall']:.4f}" in line
        assert line.rstrip(" │").endswith(str(row["support"]))
    assert "roc_auc" not in done.stdout


def test_evaluate_gives_roc_auc_for_two_classes(two_classes, tmp_path: Path) -> None:
    rows = pd.read_csv(GOOD / "train.csv")
    done = _invoke("evaluate", two_classes, GOOD / "train.csv", "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    y = (rows["label"] == "b").to_numpy().astype(int)
    proba = ModelBundle.load(two_classes).predict_proba(rows)
    assert report["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]))
    assert report["average_precision"] == pytest.approx(skm.average_precision_score(y, proba[:, 1]))
    rows[rows["label"] == "a"].to_csv(tmp_path / "only_a.csv", index=False)
    one_class = _invoke("evaluate", two_classes, tmp_path / "only_a.csv", "--json")
    undefined = json.loads(one_class.stdout)  # on rows of one class
    assert undefined["roc_auc"] is None and undefined["average_precision"] is None
    printed = _invoke("evaluate", two_classes, GOOD / "train.csv").stdout
    assert "roc_auc" in printed and "average_precision" in printed


def test_the_report_of_rows_lacking_a_predicted_class_is_sklearns_without_a_warning() -> None:
    y = np.array([0, 0, 1, 1, 0])
    proba = np.array(
        [[0.6, 0.1, 0.3], [0.2, 0.1, 0.7], [0.1, 0.8, 0.1], [0.5, 0.4, 0.1], [1, 0, 0]]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = score_report(y, proba, ("a", "b", "c"))
    predicted = proba.argmax(axis=1)
    assert report["balanced_accuracy"] == pytest.approx(0.5 * (2 / 3 + 1 / 2))
    assert report["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=[0, 1, 2]))
    assert report["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted))
    assert [c["precision"] for c in report["classes"]] == pytest.approx([2 / 3, 1.0, 0.0])
    assert [c["recall"] for c in report["classes"]] == pytest.approx([2 / 3, 0.5, 0.0])
    assert [c["support"] for c in report["classes"]] == [3, 2, 0]
    assert "roc_auc" not in report
    two = score_report(y, np.column_stack([1 - proba[:, 1], proba[:, 1]]), ("a", "b"))
    assert two["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]))


@pytest.mark.parametrize(
    ("edit", "line"),
    [
        (lambda t: t.drop(columns="kind"), "target column 'kind' not found"),
        (
            lambda t: t.rename(columns={"kind": "knd"}),
            "target column 'kind' not found (did you mean 'knd'?)",
        ),
        (
            lambda t: t.assign(kind=t["kind"].where(t.index != 3)),
            "target 'kind' is empty at line 5",
        ),
        (
            lambda t: t.assign(kind=t["kind"].where(t.index != 6, "Class_3")),
            "target 'kind' line 8: 'Class_3' is not a class the model knows "
            "(Class_1, Class_2, Class_10)",
        ),
    ],
    ids=["no-target", "misspelled-target", "empty-label", "unknown-label"],
)
def test_evaluate_refuses_bad_labels_in_one_line(
    three_classes, labelled, tmp_path: Path, edit, line: str
) -> None:
    _, rows = labelled
    edit(rows).to_csv(tmp_path / "rows.csv", index=False)
    before = listing(tmp_path)
    done = run_in(tmp_path, "evaluate", str(three_classes), "rows.csv")
    assert_refused(tmp_path, before, *done, f"rows.csv: {line}")


def test_evaluate_matches_numeric_labels_written_as_text(tmp_path: Path) -> None:
    """Classes 0/1/2 match labels read as numbers or, beside a stray text label, as text."""
    table = make_table()
    table["label"] = table["label"].map({c: code for code, c in enumerate(CLASSES)})
    schema = FeatureSchema(("x1", "x2", "colour"), ("colour",))
    _train(table, schema, (0, 1, 2), "label").save(tmp_path / "best")
    table.to_csv(tmp_path / "numbers.csv", index=False)
    done = _invoke("evaluate", tmp_path / "best", tmp_path / "numbers.csv", "--json")
    assert [c["support"] for c in json.loads(done.stdout)["classes"]] == [30, 30, 30]
    mixed = table.astype({"label": object})
    mixed.loc[4, "label"] = "x"
    mixed.to_csv(tmp_path / "mixed.csv", index=False)
    refused = _invoke("evaluate", tmp_path / "best", tmp_path / "mixed.csv")
    assert refused.exit_code == 2
    assert "line 6: 'x' is not a class the model knows (0, 1, 2)" in refused.output


@pytest.mark.parametrize("case", ROW_CASES)
def test_evaluate_refuses_a_bad_data_file_of_the_corpus(
    two_classes, tmp_path: Path, case: str
) -> None:
    """The prediction side of the corpus: the same line as ``validate`` and ``search`` give."""
    lay_out(tmp_path, case)
    before = listing(tmp_path)
    fragment = (CORPUS / case / "expected.txt").read_text().strip()
    done = run_in(tmp_path, "evaluate", str(two_classes), str(_data_file(case)))
    assert_refused(tmp_path, before, *done, fragment)


def test_the_corpus_has_row_cases_for_evaluate() -> None:
    assert len(ROW_CASES) >= 12
    assert {"data-test-lacks-a-column", "data-text-in-numeric-column"} <= set(ROW_CASES)


def _read(csv: str) -> pd.DataFrame:
    return pd.read_csv(StringIO(csv))
