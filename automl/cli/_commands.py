"""The ``automl`` command line."""

from __future__ import annotations

import json
import signal
import sys
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import click

from automl.errors import UserError

# Exit status of `automl search`: 0 done, 1 no trial completed, 2 a user error (every command),
# 130 interrupted by Ctrl-C or SIGTERM (the results of the trials that ended are written).
EXIT_NO_TRIAL = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class _UserFailure(click.ClickException):
    exit_code = EXIT_USER_ERROR


class _Group(click.Group):
    """Turns a :class:`UserError` from any command into one line and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            raise _UserFailure(str(exc)) from None


def _quiet_libraries(verbose: bool, *, tensorflow: bool = True) -> None:
    """Silence TensorFlow's start-up log and library chatter unless ``--verbose``."""
    if verbose:
        return
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", module="keras")
    warnings.filterwarnings("ignore", module="tensorflow")
    if tensorflow:
        from automl.keras import prepare_tensorflow

        prepare_tensorflow()


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, width=None if stream.isatty() else 160, highlight=False)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="automl")
def cli() -> None:
    """Search Keras networks for tabular classification with Optuna."""


@cli.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option("--trials", type=click.IntRange(min=1), help="Trials to run in this call.")
@click.option("--timeout", help="Time budget, e.g. 90s, 30m, 2h.")
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
    recipe: Path,
    trials: int | None,
    timeout: str | None,
    trial_timeout: str | None,
    parallel: int | None,
    storage: str | None,
    backend_name: str | None,
    output: Path | None,
    seed: int | None,
    fresh: bool,
    top: int,
    verbose: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run the search a RECIPE describes; running it again continues the same study.

    On a terminal a live line shows the trial, fold and epoch under one line per finished
    trial; elsewhere (logs, CI) only the trial lines are printed.
    """
    if quiet and as_json:
        raise click.UsageError("--quiet and --json exclude each other")
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    _quiet_libraries(verbose)
    from automl.cli._views import JsonEvents, LineDisplay, LiveDisplay
    from automl.events import Progress
    from automl.run import search as run_search

    console = _console()
    if as_json:
        progress: Progress = JsonEvents(click.echo)
    elif quiet:
        progress = Progress()
    else:
        progress = LiveDisplay(console) if console.is_terminal else LineDisplay(console)
    result = run_search(
        recipe,
        trials=trials,
        timeout=timeout,
        trial_timeout=trial_timeout,
        parallel=parallel,
        storage=storage,
        backend=backend_name,
        output=output,
        seed=seed,
        fresh=fresh,
        progress=progress,
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


@cli.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("data", type=click.Path(dir_okay=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV to write (default: standard output).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show TensorFlow's log.")
def predict(bundle: Path, data: Path, output: Path | None, verbose: bool) -> None:
    """Write class probabilities for each row of DATA with the model BUNDLE."""
    _quiet_libraries(verbose)
    from automl._files import write_text
    from automl.results import ModelBundle

    frame = ModelBundle.load(bundle).predict_file(data)
    if output is None:
        click.echo(frame.to_csv(index=False), nl=False)
    else:
        write_text(output, frame.to_csv(index=False))
        click.echo(f"Wrote {len(frame)} rows to {output}", err=True)


@cli.command()
@click.argument("recipe", type=click.Path(path_type=Path))
def validate(recipe: Path) -> None:
    """Check a RECIPE and its data, and show the search space and what a search would write.

    Nothing is trained and nothing is written.
    """
    from automl.data import load_dataset
    from automl.plugins import registry
    from automl.recipe import load_recipe
    from automl.run import describe_space, planned_outputs, searched

    loaded = load_recipe(recipe)
    registry().backend(loaded.backend.name).create(loaded.backend.options).close()
    dataset = load_dataset(loaded.data)
    search_rows, holdout = dataset.split_holdout(loaded.data.holdout, loaded.search.seed)
    list(search_rows.folds(loaded.search.folds, loaded.search.seed))
    outputs = planned_outputs(loaded)
    schema = dataset.schema
    click.echo(
        f"{recipe}: valid. {len(dataset)} rows ({len(search_rows)} for the search, "
        f"{0 if holdout is None else len(holdout)} held out), {len(schema.columns)} features "
        f"({len(schema.numeric)} numeric, {len(schema.categorical)} categorical), "
        f"{len(dataset.classes)} classes; {loaded.search.folds} folds, "
        f"metric {loaded.search.metric}, backend {loaded.backend.name}."
    )
    space = describe_space(loaded)
    click.echo(f"Search space ({searched(space)} of {len(space)} dimensions searched):")
    width = max(len(name) for name, _ in space) + 2
    for name, text in space:
        click.echo(f"  {name:<{width}}{text}")
    click.echo(_budget(loaded))
    click.echo("A search writes:")
    width = max(len(path) for path, _ in outputs) + 2
    for path, text in outputs:
        click.echo(f"  {path:<{width}}{text}")
    click.echo("Nothing was trained or written.")


def _budget(recipe: Any) -> str:
    """The search's budget and stopping rules in one line."""
    search, training = recipe.search, recipe.training
    limits = [f"{search.trials} trial{'s' * (search.trials != 1)}"] if search.trials else []
    limits += [f"{search.timeout}s"] if search.timeout else []
    stopping = training.early_stopping
    per_trial = (
        f"at most {search.trial_timeout}s per trial"
        if search.trial_timeout
        else "no per-trial time limit"
    )
    stop = (
        f"stops after {search.max_failures} failed trials in a row"
        if search.max_failures
        else "never stops for failures"
    )
    return (
        f"Budget: {' or '.join(limits)}{', whichever ends first' * (len(limits) > 1)}; "
        f"{search.sampler} sampler, {search.pruner} pruner, seed {search.seed}; "
        f"at most {training.max_epochs} epochs per fold (early stopping on {stopping.monitor}, "
        f"patience {stopping.patience}); {per_trial}; {stop}; "
        f"final model: {training.final_model}."
    )


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default="recipe.yaml")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented example recipe to PATH (default recipe.yaml)."""
    if path.exists() and not force:
        raise UserError(f"{path} exists; use --force to overwrite it")
    from automl._files import write_text

    write_text(path, resources.files("automl").joinpath("templates/recipe.yaml").read_text())
    click.echo(f"Wrote {path}: edit data.train and data.target, then `automl search {path}`.")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def backends(as_json: bool) -> None:
    """List the installed backends."""
    from automl.plugins import registry

    found = registry()
    rows = [
        {
            "name": b.name,
            "package": b.package,
            "version": b.version,
            "description": b.description,
            "options": b.options,
        }
        for b in sorted(found.backends.values(), key=lambda b: b.name)
    ]
    failures = [f.__dict__ for f in found.failures]
    if as_json:
        click.echo(
            json.dumps({"backends": rows, "failed_plugins": failures}, indent=2, default=str)
        )
        return
    from automl.cli._views import render_backends

    _console().print(render_backends(rows))
    for failure in failures:
        click.echo(
            f"plugin '{failure['entry_point']}' ({failure['package']}) failed to load: "
            f"{failure['error']}",
            err=True,
        )


@cli.group()
def plugin() -> None:
    """Tools for plugin authors."""


@plugin.command("new")
@click.argument("name")
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Where to create the package folder.",
)
def plugin_new(name: str, directory: Path) -> None:
    """Write a backend plugin package automl-NAME that passes the contract suite as generated."""
    from automl.cli._scaffold import new_plugin

    target = new_plugin(name, directory)
    click.echo(f"Wrote {target}: pip install -e {target} && pytest {target}")


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print every row as JSON.")
@click.option(
    "--storage",
    envvar="AUTOML_STORAGE",
    help="Study storage URL, when run.json's is masked (a password) or moved.",
)
def leaderboard(run_dir: Path, top: int, as_json: bool, storage: str | None) -> None:
    """Show the leaderboard of the run in RUN_DIR, read from its study."""
    _quiet_libraries(False, tensorflow=False)
    from automl.cli._views import render_board
    from automl.run import Run

    board = Run.open(run_dir, storage=storage).leaderboard
    if as_json:
        click.echo(board.to_json(orient="records", indent=2))
    else:
        _console().print(render_board(board, top=top))


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report(run_dir: Path) -> None:
    """Write report.html (figures and leaderboard) into the run folder RUN_DIR."""
    _quiet_libraries(False, tensorflow=True)
    from automl.run import Run, write_report

    click.echo(f"Wrote {write_report(Run.open(run_dir))}")


def main() -> None:
    """Entry point of the ``automl`` command."""
    cli(prog_name="automl")
