"""The leaderboard: ranked trials read from the study (never kept in parallel)."""

from __future__ import annotations

import math

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from automl.tuning import record

# The reason shown for a failed trial that recorded none: a killed run left it running.
KILLED_DURING_TRIAL = "interrupted: the run stopped during this trial"
# Study attributes holding the scores of the rows that are not trials.
REFERENCE_ATTR = "reference"
EXTRA_TREES_ATTR = "extra_trees"
CATBOOST_ATTR = "catboost"
LIGHTGBM_ATTR = "lightgbm"
# each also names its folder in the run
REFERENCE_ATTRS = (REFERENCE_ATTR, EXTRA_TREES_ATTR, CATBOOST_ATTR, LIGHTGBM_ATTR)
ENSEMBLE_ATTR = "ensemble"
_STATES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "waiting",
}


def build_leaderboard(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: complete trials best first, then pruned, failed and running ones.

    Columns: rank, trial, state, the metric's mean (named after it), std, fold_1..fold_k,
    log_loss, accuracy, epochs (mean run per fold), seconds, params, architecture, backend (that
    trained the trial), reason.
    The ensemble (state ``ensemble``, out-of-fold scores) and the references, gradient boosting,
    extra trees, CatBoost and LightGBM (state ``reference``), are ranked among the complete trials
    when the run made them.
    """
    metric = study.user_attrs.get(record.METRIC, "value")
    rows = [
        _row(trial, metric)
        for trial in study.get_trials(deepcopy=False)
        if trial.state != TrialState.WAITING
    ]
    extras = [("ensemble", ENSEMBLE_ATTR)] + [("reference", attr) for attr in REFERENCE_ATTRS]
    rows += [
        _extra_row(state, study.user_attrs[attr], metric)
        for state, attr in extras
        if attr in study.user_attrs
    ]
    columns = ["rank", "trial", "state", metric, "std"]
    board = pd.DataFrame(rows)
    if board.empty:
        return pd.DataFrame(columns=[*columns, "architecture", "reason"])
    ascending = study.direction == optuna.study.StudyDirection.MINIMIZE
    order = {"complete": 0, "ensemble": 0, "reference": 0, "pruned": 1, "failed": 2, "running": 3}
    board["_order"] = board["state"].map(order)
    board["_key"] = board[metric] if ascending else -board[metric]
    board = board.sort_values(["_order", "_key", "trial"], na_position="last", kind="stable")
    board = board.reset_index(drop=True)
    if board["trial"].isna().any():  # the ensemble and reference rows are no trials
        board["trial"] = board["trial"].astype("Int64")
    complete = board["_order"] == 0
    board.insert(
        0, "rank", pd.array([i + 1 if c else None for i, c in enumerate(complete)], dtype="Int64")
    )
    folds = sorted((c for c in board.columns if c.startswith("fold_")), key=lambda c: int(c[5:]))
    rest = [c for c in board.columns if c not in {*columns, *folds, "_order", "_key"}]
    return board[[*columns, *folds, *rest]]


def _row(trial: FrozenTrial, metric: str) -> dict:
    attrs = trial.user_attrs
    state = _STATES.get(trial.state, trial.state.name.lower())
    fold_values = attrs.get(record.FOLD_VALUES, [])
    value = (
        trial.value
        if trial.state == TrialState.COMPLETE
        else (sum(fold_values) / len(fold_values) if fold_values else math.nan)
    )
    row = {
        "trial": trial.number,
        "state": state,
        metric: value,
        "std": attrs.get(record.STD, math.nan),
        **{f"fold_{i + 1}": v for i, v in enumerate(fold_values)},
        "log_loss": attrs.get(record.LOG_LOSS, math.nan),
        "accuracy": attrs.get(record.ACCURACY, math.nan),
        "epochs": _mean(attrs.get(record.EPOCHS, [])),
        "seconds": attrs.get(record.SECONDS, math.nan),
        "params": attrs.get(record.N_PARAMS),
        "architecture": attrs.get(record.ARCHITECTURE, ""),
        "backend": attrs.get(record.BACKEND, ""),
        "reason": _reason(trial, state),
    }
    return row


def _extra_row(state: str, extra: dict, metric: str) -> dict:
    """The row of the ensemble or a reference, from its study attribute."""
    fold_values = extra.get(record.FOLD_VALUES, [])
    return {
        "trial": None,
        "state": state,
        metric: extra.get(record.EXTRA_ROW_VALUE, math.nan),
        "std": extra.get(record.STD, math.nan),
        **{f"fold_{i + 1}": v for i, v in enumerate(fold_values)},
        "log_loss": extra.get(record.LOG_LOSS, math.nan),
        "accuracy": extra.get(record.ACCURACY, math.nan),
        "seconds": extra.get(record.SECONDS, math.nan),
        "architecture": extra.get(record.ARCHITECTURE, ""),
        "backend": extra.get(record.BACKEND, ""),
        "reason": "",
    }


def _reason(trial: FrozenTrial, state: str) -> str:
    if state == "failed":
        return trial.user_attrs.get(record.FAIL_REASON, KILLED_DURING_TRIAL)
    if state == "pruned":
        folds = len(trial.user_attrs.get(record.FOLD_VALUES, []))
        return trial.user_attrs.get(record.PRUNE_REASON, f"pruned after fold {folds}")
    return ""


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def to_markdown(board: pd.DataFrame) -> str:
    """The leaderboard as a GitHub-flavoured Markdown table."""
    header = "| " + " | ".join(board.columns) + " |"
    rule = "|" + "|".join("---" for _ in board.columns) + "|"
    body = [
        "| " + " | ".join(format_cell(v) for v in row) + " |"
        for row in board.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body]) + "\n"


def format_cell(value: object) -> str:
    """A short human form of one leaderboard cell."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1 else f"{value:.4f}"
    return str(value).replace("|", "\\|")
