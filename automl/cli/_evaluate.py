"""``automl evaluate``: score a model bundle on labelled rows, as a table or as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np
import pandas as pd
from rich.table import Table
from rich.text import Text

from automl._text import did_you_mean
from automl.cli._app import cli, console_for, quiet_libraries
from automl.errors import UserError

if TYPE_CHECKING:
    from automl.data import Source

_SHOWN_CLASSES = 8  # classes listed in the message for a label the model does not know
_SHOWN_FEATURES = 20  # rows of the importance table (--json lists every feature)


@cli.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("data", type=click.Path(dir_okay=True, path_type=Path))
@click.option(
    "--importance",
    is_flag=True,
    help="Also each feature's permutation importance: the rise in log-loss when it is shuffled.",
)
@click.option(
    "--repeats",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Shuffles of each feature for --importance.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
@click.option("-v", "--verbose", is_flag=True, help="Show TensorFlow's log.")
def evaluate(
    bundle: Path, data: Path, importance: bool, repeats: int, as_json: bool, verbose: bool
) -> None:
    """Score the model BUNDLE on the labelled rows of DATA.

    DATA holds the features and the target column the model was trained on. Prints log-loss,
    accuracy, balanced accuracy, per-class precision and recall, and ROC AUC and average
    precision for two classes;
    with --importance, each feature's permutation importance (on at most 2000 of the rows).
    """
    quiet_libraries(verbose)
    from automl.data import Source, read_table, select_features
    from automl.metrics import score_report
    from automl.results import ModelBundle, feature_importance

    model = ModelBundle.load(bundle)
    table, source = read_table(data), Source(str(data))
    features, _ = select_features(table, model.schema, model.id_column, source)
    codes = true_codes(table, source, model.label_column, model.classes)
    report = score_report(codes, model.predict_proba(features), model.classes)
    if importance:
        report["importance"] = feature_importance(model, features, codes, repeats=repeats)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    console = console_for()
    console.print(Text(f"{data}: {report['rows']} rows, target '{model.label_column}'"))
    for view in _render(report):
        console.print(view)


def true_codes(table: pd.DataFrame, source: Source, target: str, classes: tuple) -> np.ndarray:
    """The class code (position in ``classes``) of each row's label in the ``target`` column.

    A label matches a class equal to it, or whose text is its text (``1`` and ``"1"``). One line
    names the source, column and row of a missing column, an empty label or an unknown one.
    """
    if target not in table.columns:
        raise UserError(
            f"{source}: target column '{target}' not found"
            f"{did_you_mean(target, [str(c) for c in table.columns])}; evaluate needs each "
            "row's true class in it"
        )
    labels = table[target].reset_index(drop=True)
    empty = labels.isna().to_numpy()
    if empty.any():
        raise UserError(f"{source}: target '{target}' is empty at {source.at(empty)}")
    lookup: dict[Any, int] = {str(c): code for code, c in enumerate(classes)}
    lookup |= {c: code for code, c in enumerate(classes)}
    codes = pd.Series([lookup.get(v, lookup.get(str(v), -1)) for v in labels])
    unknown = (codes < 0).to_numpy()
    if unknown.any():
        value = str(labels[unknown].iloc[0])
        known = ", ".join(str(c) for c in classes[:_SHOWN_CLASSES])
        more = f", ... ({len(classes)} in all)" if len(classes) > _SHOWN_CLASSES else ""
        raise UserError(
            f"{source}: target '{target}' {source.at(unknown)}: {value[:40]!r} is not a class "
            f"the model knows ({known}{more})"
        )
    return codes.to_numpy(dtype=np.int64)


def _render(report: dict[str, Any]) -> list[Table | Text]:
    """The overall figures, then precision, recall and support per class, then the features'
    importance when it was measured."""
    overall = Table(title="Scores", title_justify="left")
    overall.add_column("metric")
    overall.add_column("value", justify="right")
    names = ("log_loss", "accuracy", "balanced_accuracy", "roc_auc", "average_precision")
    for name in (n for n in names if n in report):
        value = report[name]
        overall.add_row(name, "-" if value is None else f"{value:.4f}")
    per_class = Table(title="Per class", title_justify="left")
    for column in ("class", "precision", "recall", "support"):
        per_class.add_column(column, justify="left" if column == "class" else "right")
    for row in report["classes"]:
        per_class.add_row(
            Text(str(row["class"])),
            f"{row['precision']:.4f}",
            f"{row['recall']:.4f}",
            str(row["support"]),
        )
    views: list[Table | Text] = [overall, per_class]
    if "importance" in report:
        views += _render_importance(report["importance"])
    return views


def _render_importance(found: dict[str, Any]) -> list[Table | Text]:
    """The most important features, then a line on what the figures are."""
    rows = found["features"]
    shown = rows[:_SHOWN_FEATURES]
    view = Table(title="Permutation importance", title_justify="left")
    for column in ("feature", "log-loss rise", "std"):
        view.add_column(column, justify="left" if column == "feature" else "right")
    for row in shown:
        view.add_row(Text(row["feature"]), f"{row['importance']:.4f}", f"{row['std']:.4f}")
    note = (
        f"The rise in log-loss when a feature's column is shuffled: mean and standard deviation "
        f"of {found['repeats']} shuffles of {found['rows']} rows."
    )
    if len(rows) > len(shown):
        note += f" The top {len(shown)} of {len(rows)} features; --json lists all."
    return [view, Text(note)]
