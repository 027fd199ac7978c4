"""``automl bundle upgrade``: convert a bundle of an older, pickled format to format 3."""

from __future__ import annotations

from pathlib import Path

import click

from automl.cli._app import cli, quiet_libraries


@cli.group()
def bundle() -> None:
    """Work with model bundles."""


@bundle.command("upgrade")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the format-3 bundle to (default: replace SOURCE).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show TensorFlow's log.")
def upgrade(source: Path, output: Path | None, verbose: bool) -> None:
    """Convert the bundle SOURCE (format 1 or 2) to format 3, which loads without running code.

    Formats 1 and 2 hold pickles, which run code as they load: upgrade only a bundle you trust.
    The new bundle must predict what the old one does before anything is written.
    """
    quiet_libraries(verbose)
    from automl.results import upgrade_bundle

    target = output or source
    difference = upgrade_bundle(source, target)
    click.echo(
        f"Wrote the format-3 bundle to {target} (predictions equal to the old bundle's within "
        f"{difference:.1g})",
        err=True,
    )
