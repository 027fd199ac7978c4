"""The gradient boosting reference with and without early stopping, on the tables of
``bench/tables.py``.

For each table, as ``bench/tables.py`` splits it (its ``train.csv`` and ``holdout.csv``),
scikit-learn's HistGradientBoostingClassifier with the reference's settings (learning rate 0.1,
100 trees of 31 leaves, 20 rows a leaf, text columns as categories) fits the training file with
``early_stopping`` ``auto`` (scikit-learn's default: on only above 10,000 rows) and ``True``
(a tenth of the rows held out; the reference's default), in turns, ``--repeats`` times. It prints
each one's holdout log-loss (the benches' one per-row log-loss) and median seconds.

    .venv/bin/python bench/reference_stopping.py [--tables penguins,...] [--repeats 3]
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pandas as pd
from tables import TABLES, Table, fits_parser, gradient_boosting, write_files

SETTINGS = ("auto", True)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; fit, time and score both settings on each table; print a Markdown table."""
    args = fits_parser(__doc__, "reference_stopping").parse_args(argv)
    print("| table | rows | auto: holdout log-loss | auto: s | on: holdout log-loss | on: s |")
    print("|---|---|---|---|---|---|")
    for name in args.tables.split(","):
        table = TABLES[name]
        train_csv, holdout_csv = write_files(table, args.output / name)
        rows, measured = compare(table, train_csv, holdout_csv, args.repeats)
        cells = " | ".join(f"{loss:.4f} | {seconds:.2f}" for loss, seconds in measured)
        print(f"| {name} | {rows:,} | {cells} |", flush=True)
    return 0


def compare(
    table: Table, train_csv: Path, holdout_csv: Path, repeats: int
) -> tuple[int, list[tuple[float, float]]]:
    """The training rows, and per setting of :data:`SETTINGS` the holdout log-loss and the
    median seconds to fit."""
    train, holdout = pd.read_csv(train_csv), pd.read_csv(holdout_csv)
    seconds: dict[object, list[float]] = {setting: [] for setting in SETTINGS}
    losses: dict[object, float] = {}
    for _ in range(repeats):
        for setting in SETTINGS:
            losses[setting], fit_seconds, _ = gradient_boosting(table, train, holdout, setting)
            seconds[setting].append(fit_seconds)
    return len(train), [(losses[s], statistics.median(seconds[s])) for s in SETTINGS]


if __name__ == "__main__":
    sys.exit(main())
