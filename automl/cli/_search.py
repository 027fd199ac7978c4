"""``automl search``: run a recipe with live progress, print the result, exit with its status."""

from __future__ import annotations

import gc
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from automl.cli._app import (
    EXIT_INTERRUPTED,
    EXIT_NO_TRIAL,
    cli,
    console_for,
    quiet_libraries,
    recipe_settings,
)
from automl.recipe import PRESETS


@cli.command()
@click.argument("source", metavar="RECIPE_OR_TABLE", type=click.Path(path_type=Path))
@click.option("--target", help="With a data table: the column to predict.")
@click.option("--id", "id_column", help="With a data table: a column carried into predictions.")
@click.option(
    "--preset",
    type=click.Choice(PRESETS),
    help="With a data table: fast (a model in about a minute), good (default: the best model "
    "for the budget) or best (more folds, a longer budget).",
)
@click.option("--trials", type=click.IntRange(min=1), help="Trials to run in this call.")
@click.option(
    "--time",
    "--timeout",
    "timeout",
    help="Time budget of the whole call, the final model and its files included: 90s, 10m, 2h.",
)
@click.option("--trial-timeout", help="Time one trial may take before it is failed, e.g. 5m.")
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    help="Trials run at once (worker processes, or Spark tasks with spark-trials).",
)
@click.option(
    "--storage",
    envvar="AUTOML_STORAGE",
    help="Study database URL, e.g. postgresql://user@host/db: processes that name the same "
    "one run trials of one study.",
)
@click.option("--backend", "backend_name", help="Backend name (see `automl backends`).")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder (default runs/<recipe name>).",
)
@click.option("--seed", type=int, help="Seed for splits, sampler and training.")
@click.option("--fresh", is_flag=True, help="Delete the run's study and start over.")
@recipe_settings
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Leaderboard rows to print.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show TensorFlow's log too.")
@click.option("-q", "--quiet", is_flag=True, help="No progress: only the leaderboard and paths.")
@click.option("--json", "as_json", is_flag=True, help="Progress and result as JSON lines.")
def search(
    source: Path,
    target: str | None,
    id_column: str | None,
    preset: str | None,
    trials: int | None,
    timeout: str | None,
    trial_timeout: str | None,
    parallel: int | None,
    storage: str | None,
    backend_name: str | None,
    output: Path | None,
    seed: int | None,
    fresh: bool,
    settings: tuple[str, ...],
    top: int,
    verbose: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run the search a recipe describes, or search a data table (.csv, .csv.gz, .parquet)
    with a preset: `automl search churn.csv --target churned --time 10m`.

    Running it again continues the same study; a table's run folder holds its resolved
    recipe.yaml, to read, edit and run.

    On a terminal a live line shows the trial, fold and epoch under one line per finished
    trial; elsewhere (logs, CI) only the trial lines are printed.
    """
    began = time.monotonic()  # --time counts the whole command from here
    if quiet and as_json:
        raise click.UsageError("--quiet and --json exclude each other")
    from automl.recipe import parse_overrides

    overrides = parse_overrides(settings)
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    quiet_libraries(verbose)
    # What the imports made is never garbage: out of the collector's scans, each fit's collection
    # (automl.keras.releasing_traced_graphs) takes milliseconds, not a quarter of a second.
    gc.collect()
    gc.freeze()
    from automl.cli._views import JsonEvents, LineDisplay, LiveDisplay
    from automl.events import Progress
    from automl.run import search as run_search

    console = console_for()
    if as_json:
        progress: Progress = JsonEvents(click.echo)
    elif quiet:
        progress = Progress()
    else:
        progress = LiveDisplay(console) if console.is_terminal else LineDisplay(console)
    result = run_search(
        source,
        target=target,
        id=id_column,
        preset=preset,
        trials=trials,
        time=timeout,
        trial_timeout=trial_timeout,
        parallel=parallel,
        storage=storage,
        backend=backend_name,
        output=output,
        seed=seed,
        fresh=fresh,
        progress=progress,
        overrides=overrides,
        began=began,
    )
    if as_json:
        click.echo(json.dumps(_result_event(result, top), default=str))
    else:
        _print_result(console, result, top, quiet)
    if result.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    if result.best is None:
        reasons = [r for r in result.leaderboard.get("reason", []) if isinstance(r, str) and r]
        first = f"; the first: {reasons[0]}" if reasons else ""
        click.echo(f"Error: no trial completed{first}", err=True)
        sys.exit(EXIT_NO_TRIAL)


def _print_result(console: Any, result: Any, top: int, quiet: bool) -> None:
    """The leaderboard, the holdout scores and where the run's files are."""
    from automl.cli._views import render_board

    if result.stopped:
        console.print(
            f"Stopped early ({result.stopped}): the leaderboard and best model hold the trials "
            "that ended.",
            markup=False,
        )
    if not quiet:
        console.print(render_board(result.leaderboard, top=top))
    if result.holdout:
        scores = ", ".join(f"{k} {v:.4f}" for k, v in result.holdout.items())
        console.print(f"Best model on the holdout rows: {scores}")
    if result.best is not None:
        console.print(f"Best model: {result.run_dir / 'best'}")
    console.print(f"Run folder: {result.run_dir}")


def _stop_like_ctrl_c(signum: int, frame: Any) -> None:
    """SIGTERM ends the current trial and writes the results, as Ctrl-C does."""
    raise KeyboardInterrupt


def _result_event(result: Any, top: int) -> dict[str, Any]:
    """The last JSON line of ``search --json``: where things are, holdout scores, top rows."""
    return {
        "event": "search_ended",
        "run_dir": str(result.run_dir),
        "best": str(result.run_dir / "best") if result.best is not None else None,
        "holdout": result.holdout,
        "interrupted": result.interrupted,
        "stopped": result.stopped,
        "leaderboard": json.loads(result.leaderboard.head(top).to_json(orient="records")),
    }
