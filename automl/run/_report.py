"""The run report: ``report.html`` and its PNG figures in the run folder, opened from disk."""

from __future__ import annotations

import html
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import optuna
from matplotlib import pyplot
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from optuna.importance import FanovaImportanceEvaluator
from optuna.trial import FrozenTrial, TrialState
from optuna.visualization import matplotlib as plots
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from automl._files import atomic_path, write_text
from automl.errors import UserError
from automl.results import build_leaderboard, format_cell
from automl.run._reopen import Run
from automl.tuning import record as record_keys

REPORT_FILE = "report.html"
LEARNING_CURVES = "learning_curves.png"
HISTORY = "optimization_history.png"
IMPORTANCES = "param_importances.png"
PARALLEL = "parallel_coordinate.png"
CONFUSION = "confusion_matrix.png"
FEATURES = "feature_importance.png"
FIGURES = (LEARNING_CURVES, HISTORY, IMPORTANCES, PARALLEL, CONFUSION, FEATURES)
_SHOWN_FEATURES = 20
_STYLE = (
    "body{font-family:sans-serif;margin:2em auto;max-width:1200px;padding:0 1em}.note{color:#555}"
    "img{max-width:100%}.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:13px}"
    "th,td{border:1px solid #ccc;padding:3px 6px;text-align:right;white-space:nowrap}"
    "th{background:#eee}tr.failed{background:#fde8e8}tr.pruned{background:#fdf6e0}"
)


@dataclass
class Section:
    """One part of the page: a figure (or the reason it is missing), a caption, maybe a table."""

    title: str
    image: str | None = None
    text: str = ""
    table: str = ""


def write_report(run: Run) -> Path:
    """Draw the figures of ``run`` and write its ``report.html``; return the page's path."""
    run_dir = run.folder.path
    study, record = run.study, run.record
    metric = study.user_attrs.get(record_keys.METRIC, "value")
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete:
        sections = [
            _learning_curves(study.best_trial, run_dir / LEARNING_CURVES),
            _optimization_history(study, metric, run_dir / HISTORY),
            _importances(study, complete, metric, run_dir / IMPORTANCES),
            _parallel_coordinate(study, complete, metric, run_dir / PARALLEL),
            _holdout(run, run_dir / CONFUSION),
            _feature_importance(record, run_dir / FEATURES),
        ]
    else:
        text = "No trial completed, so there is no best model to draw; the leaderboard says why."
        sections = [Section("No complete trial", text=text)]
    drawn = {section.image for section in sections}
    for name in FIGURES:  # a figure this run could not draw must not show a previous run's
        if name not in drawn:
            (run_dir / name).unlink(missing_ok=True)
    sections.append(_leaderboard(study))
    path = run.folder.report
    write_text(path, _page(study, metric, record, sections))
    return path


def _learning_curves(trial: FrozenTrial, path: Path) -> Section:
    title = f"Learning curves of the best trial ({trial.number})"
    histories = trial.user_attrs.get("history")
    if not histories:
        return Section(title, text="Not drawn: the best trial recorded no per-epoch history.")
    best_epochs = trial.user_attrs.get("best_epochs", [])
    figure = Figure(figsize=(12, 4.5), layout="constrained")
    for ax, key in zip(figure.subplots(1, 2), ("loss", "accuracy"), strict=True):
        for fold, history in enumerate(histories):
            for name, style in ((key, "--"), (f"val_{key}", "-")):
                values = history.get(name, [])
                ax.plot(range(1, len(values) + 1), values, style, color=f"C{fold}")
            valid = history.get(f"val_{key}", [])
            if fold < len(best_epochs) and 0 < best_epochs[fold] <= len(valid):
                epoch = best_epochs[fold]
                ax.plot(epoch, valid[epoch - 1], "o", color=f"C{fold}", markersize=8)
        ax.set(title=key.capitalize(), xlabel="epoch", ylabel=key)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=f"C{i}", label=f"fold {i + 1}") for i in range(len(histories))]
    handles += [
        Line2D([], [], color="k", linestyle="--", label="training"),
        Line2D([], [], color="k", label="validation"),
        Line2D([], [], color="k", marker="o", linestyle="", label="best epoch (weights kept)"),
    ]
    figure.legend(handles=handles, loc="outside right center")
    _save(figure, path)
    text = "Training dashed, validation solid, one colour per fold; dots mark the kept epoch."
    return Section(title, path.name, text)


def _optimization_history(study: optuna.Study, metric: str, path: Path) -> Section:
    _draw_optuna(path, plots.plot_optimization_history, study, target_name=metric)
    return Section("Optimisation history", path.name, f"Each complete trial's {metric}.")


def _importances(
    study: optuna.Study, complete: list[FrozenTrial], metric: str, path: Path
) -> Section:
    title = "Parameter importances"
    if len(complete) < 2:
        return Section(
            title, text=f"Not drawn: needs 2 complete trials, the run has {len(complete)}."
        )
    common = set.intersection(*(set(trial.params) for trial in complete))
    if not any(len({repr(t.params[name]) for t in complete}) > 1 for name in common):
        return Section(title, text="Not drawn: no parameter varied across the complete trials.")
    evaluator = FanovaImportanceEvaluator(seed=0)
    _draw_optuna(path, plots.plot_param_importances, study, evaluator=evaluator, target_name=metric)
    text = f"The share of the variation of {metric} each parameter explains (fANOVA)."
    return Section(title, path.name, text)


def _parallel_coordinate(
    study: optuna.Study, complete: list[FrozenTrial], metric: str, path: Path
) -> Section:
    axes = len(set().union(*(trial.params for trial in complete))) + 1
    width = max(8.0, 1.4 * axes + 2)  # Optuna's default size crowds the axis labels
    _draw_optuna(path, plots.plot_parallel_coordinate, study, width=width, target_name=metric)
    text = f"One line per complete trial through its parameters, coloured by {metric}."
    return Section("The search space", path.name, text)


def _holdout(run: Run, path: Path) -> Section:
    title = "The best model on the holdout rows"
    try:
        holdout = run.holdout_rows()
    except UserError as exc:
        return Section(title, text=f"Not drawn: {exc}.")
    bundle = run.best
    if bundle is None:
        return Section(title, text="Not drawn: the run wrote no best model.")
    labels = [str(c) for c in holdout.classes]
    codes = list(range(len(labels)))
    predicted = bundle.predict_proba(holdout.features).argmax(axis=1)
    matrix = confusion_matrix(holdout.target, predicted, labels=codes)
    precision, recall, _, support = precision_recall_fscore_support(
        holdout.target, predicted, labels=codes, zero_division=0
    )
    _draw_confusion(matrix, precision, recall, labels, path)
    accuracy = float(np.trace(matrix) / matrix.sum())
    text = (
        f"Trial {bundle.info.get('trial')}'s final model on {len(holdout)} rows the search never "
        f"saw: accuracy {accuracy:.4f}."
    )
    recorded = run.holdout or {}
    if "accuracy" in recorded and abs(recorded["accuracy"] - accuracy) > 1e-9:
        text += f" run.json recorded {recorded['accuracy']:.4f}: has the data file changed?"
    rows = zip(labels, precision, recall, support, strict=True)
    table = _table(["class", "precision", "recall", "rows"], [list(row) for row in rows])
    return Section(title, path.name, text, table)


def _draw_confusion(
    matrix: np.ndarray, precision: np.ndarray, recall: np.ndarray, labels: list[str], path: Path
) -> None:
    size = max(4.5, 0.6 * len(labels) + 2)
    figure = Figure(figsize=(2 * size + 1, size), layout="constrained")
    left, right = figure.subplots(1, 2)
    image = left.imshow(matrix, cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        left.text(column, row, str(count), ha="center", va="center", color=colour)
    ticks = range(len(labels))
    left.set_xticks(ticks, labels, rotation=45, ha="right")
    left.set_yticks(ticks, labels)
    left.set(title="Confusion matrix (holdout rows)", xlabel="predicted class", ylabel="true class")
    figure.colorbar(image, ax=left, label="rows")
    positions = np.arange(len(labels))
    right.barh(positions - 0.2, precision, height=0.4, label="precision")
    right.barh(positions + 0.2, recall, height=0.4, label="recall")
    right.set_yticks(positions, labels)
    right.invert_yaxis()
    right.set(title="Per-class precision and recall", xlabel="score", xlim=(0, 1.05))
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    right.grid(axis="x", alpha=0.3)
    _save(figure, path)


def _feature_importance(record: dict[str, Any] | None, path: Path) -> Section:
    """The best model's permutation importance, as ``run.json`` recorded it: the top features."""
    title = "Feature importance of the best model"
    found = (record or {}).get("importance")
    if not found:
        text = "Not drawn: run.json records none (it needs a best model and holdout rows)."
        return Section(title, text=text)
    shown = found["features"][:_SHOWN_FEATURES]
    names = [row["feature"] for row in shown]
    figure = Figure(figsize=(8, max(2.5, 0.3 * len(shown) + 1)), layout="constrained")
    ax = figure.subplots()
    positions = np.arange(len(shown))
    means = [row["importance"] for row in shown]
    ax.barh(positions, means, xerr=[row["std"] for row in shown], color="C0", capsize=2)
    ax.set_yticks(positions, names)
    ax.invert_yaxis()
    ax.axvline(0, color="k", linewidth=0.8)
    ax.set(title="Permutation importance (holdout rows)", xlabel="rise in log-loss when shuffled")
    ax.grid(axis="x", alpha=0.3)
    _save(figure, path)
    more = len(found["features"]) - len(shown)
    text = (
        f"How much the log-loss on {found['rows']} holdout rows rises when one feature's column "
        f"is shuffled (mean and standard deviation over {found['repeats']} shuffles, seed "
        f"{found['seed']}); near zero or below: the model does not rely on it."
        + (f" The top {len(shown)} of {len(found['features'])} features." if more else "")
    )
    rows = [[row["feature"], row["importance"], row["std"]] for row in shown]
    return Section(title, path.name, text, _table(["feature", "log-loss rise", "std"], rows))


def _draw_optuna(
    path: Path, plot: Callable[..., Any], study: optuna.Study, width: float = 0, **options: Any
) -> None:
    """Save one of Optuna's pyplot-based plots, leaving matplotlib's global style as it was."""
    if matplotlib.get_backend(auto_select=False) is None:
        matplotlib.use("Agg")  # nobody chose a backend: draw off screen; else keep the user's
    with matplotlib.rc_context(), warnings.catch_warnings():  # Optuna sets the ggplot style
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # a parameter with one value gives an axis with no range, which matplotlib widens
        warnings.filterwarnings("ignore", "Attempting to set identical", UserWarning)
        figure = np.ravel(plot(study, **options))[0].figure
        if width:
            figure.set_size_inches(width, 5.5)
        try:
            _save(figure, path)
        finally:
            pyplot.close(figure)


def _save(figure: Any, path: Path) -> None:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100, bbox_inches="tight")


def _leaderboard(study: optuna.Study) -> Section:
    board = build_leaderboard(study)
    rows = [list(row) for row in board.itertuples(index=False)]
    states = list(board["state"])
    counts = ", ".join(f"{count} {state}" for state, count in Counter(states).items())
    text = f"One row per trial ({counts or 'none yet'}), best first; failed and pruned trials "
    text += "give their reason."
    return Section("Leaderboard", text=text, table=_table(list(board.columns), rows, states))


def _table(columns: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    """An HTML table; ``classes`` gives each row a CSS class (the trial's state)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for index, row in enumerate(rows):
        css = f' class="{html.escape(classes[index])}"' if classes else ""
        cells = "".join(
            f"<td>{html.escape(v if isinstance(v, str) else format_cell(v))}</td>" for v in row
        )
        body.append(f"<tr{css}>{cells}</tr>")
    return f'<div class="scroll"><table><tr>{head}</tr>{"".join(body)}</table></div>'


def _page(
    study: optuna.Study, metric: str, record: dict[str, Any] | None, sections: list[Section]
) -> str:
    facts = [f"Metric: {metric} ({study.direction.name.lower()})"]
    best = (record or {}).get("best")
    if best:
        facts.append(f"Best: trial {best['trial']}, {metric} {best['value']:.4f}")
        facts.append(f"Architecture: {best['architecture']}")
    if record is not None:
        ended = "Interrupted by Ctrl-C" if record.get("interrupted") else "Finished"
        facts.append(f"{ended}: {record.get('finished')}")
    parts = [f"<li>{html.escape(fact)}</li>" for fact in facts]
    body = [f"<h1>automl report: {html.escape(study.study_name)}</h1><ul>{''.join(parts)}</ul>"]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.image:
            alt = html.escape(section.title, quote=True)
            body.append(f'<img src="{html.escape(section.image, quote=True)}" alt="{alt}">')
        body.append(f'<p class="note">{html.escape(section.text)}</p>{section.table}')
    title = html.escape(f"automl report: {study.study_name}")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
