"""The other commands: predict, validate, init, backends, plugin new, leaderboard and report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import click

from automl.cli._app import cli, console_for, quiet_libraries, recipe_settings
from automl.errors import UserError


@cli.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("data", type=click.Path(dir_okay=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV to write (default: standard output).",
)
@click.option(
    "--proba-only", is_flag=True, help="Leave out the predicted label: id and probabilities only."
)
@click.option("-v", "--verbose", is_flag=True, help="Show TensorFlow's log.")
def predict(bundle: Path, data: Path, output: Path | None, proba_only: bool, verbose: bool) -> None:
    """Write the predicted label and class probabilities for each row of DATA with the model BUNDLE.

    Columns: the id column (when DATA has it), the label (named as the target), then one
    probability per class.
    """
    quiet_libraries(verbose)
    from automl._files import write_text
    from automl.results import ModelBundle

    frame = ModelBundle.load(bundle).predict_file(data, proba_only=proba_only)
    if output is None:
        click.echo(frame.to_csv(index=False), nl=False)
    else:
        write_text(output, frame.to_csv(index=False))
        click.echo(f"Wrote {len(frame)} rows to {output}", err=True)


@cli.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@recipe_settings
def validate(recipe: Path, settings: tuple[str, ...]) -> None:
    """Check a RECIPE and its data, and show the search space and what a search would write.

    Nothing is trained and nothing is written.
    """
    from automl.plugins import registry
    from automl.recipe import load_recipe, parse_overrides
    from automl.run import describe_space, planned_outputs, searched

    loaded = load_recipe(recipe, parse_overrides(settings))
    backend = registry().backend(loaded.backend.name).create(loaded.backend.options)
    try:
        sizes = _table_sizes(loaded, backend) if loaded.data.distributed else _file_sizes(loaded)
    finally:
        backend.close()
    outputs = planned_outputs(loaded)
    schema = sizes.schema
    click.echo(
        f"{recipe}: valid. {sizes.searched + sizes.held_out} rows ({sizes.searched} for the "
        f"search, {sizes.held_out} held out), {len(schema.columns)} features "
        f"({len(schema.numeric)} numeric, {len(schema.categorical)} categorical), "
        f"{len(sizes.classes)} classes; {loaded.search.folds} folds, "
        f"metric {loaded.search.metric}, backend {loaded.backend.name}."
    )
    if sizes.class_weights is not None:
        pairs = zip(sizes.classes, sizes.class_weights, strict=True)
        shown = ", ".join(f"{c} {w:.3g}" for c, w in pairs)
        click.echo(f"Class weights (training.class_weight): {shown}")
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


@dataclass(frozen=True)
class _Sizes:
    """What ``automl validate`` tells of a recipe's rows."""

    searched: int
    held_out: int
    schema: Any
    classes: tuple
    class_weights: Any = None


def _file_sizes(recipe: Any) -> _Sizes:
    """Read, split and weigh the recipe's rows as a search would."""
    from automl.data import class_weights, load_dataset

    dataset = load_dataset(recipe.data)
    search_rows, holdout = dataset.split_holdout(recipe.data.holdout, recipe.search.seed)
    list(search_rows.folds(recipe.search.folds, recipe.search.seed))
    by_class = class_weights(search_rows, recipe.training.class_weight)
    held_out = 0 if holdout is None else len(holdout)
    return _Sizes(len(search_rows), held_out, dataset.schema, dataset.classes, by_class)


def _table_sizes(recipe: Any, backend: Any) -> _Sizes:
    """Open the recipe's distributed table through its backend, as a search would."""
    from automl.run import open_table

    table = open_table(recipe, backend)
    table.close()
    return _Sizes(table.search_rows, table.holdout_rows, table.schema, table.classes)


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

    console_for().print(render_backends(rows))
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
    quiet_libraries(False, tensorflow=False)
    from automl.cli._views import render_board
    from automl.run import Run

    board = Run.open(run_dir, storage=storage).leaderboard
    if as_json:
        click.echo(board.to_json(orient="records", indent=2))
    else:
        console_for().print(render_board(board, top=top))


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report(run_dir: Path) -> None:
    """Write report.html (figures and leaderboard) into the run folder RUN_DIR."""
    quiet_libraries(False, tensorflow=True)
    from automl.run import Run, write_report

    click.echo(f"Wrote {write_report(Run.open(run_dir))}")
