"""The ``automl`` command group: one line and exit status 2 for a user error, quiet libraries, the
console, and the exit statuses of ``automl search``."""

from __future__ import annotations

import sys
import warnings
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


def quiet_libraries(verbose: bool, *, tensorflow: bool = True) -> None:
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


recipe_settings = click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="SECTION.FIELD=VALUE",
    help="Override one recipe field, the value read as YAML (repeatable), e.g. --set "
    "search.trials=5 --set space.layers=[1,2].",
)


def console_for() -> Any:
    """A rich console on standard output: the terminal's width, or 160 columns off a terminal."""
    from rich.console import Console

    stream = sys.stdout
    return Console(file=stream, width=None if stream.isatty() else 160, highlight=False)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="automl")
def cli() -> None:
    """Search Keras networks for tabular classification with Optuna."""


def main() -> None:
    """Entry point of the ``automl`` command."""
    cli(prog_name="automl")
