"""Hook specifications: what a plugin can provide. Plugins implement them with ``@automl.hookimpl``.

A plugin is a module or object registered under the entry-point group ``automl``::

    [project.entry-points.automl]
    my_backend = "my_package.plugin"

Hooks by phase: :func:`register_backends` when the plugins load; then, for every search,
:func:`search_started`, :func:`trial_ended` after each trial, and :func:`search_ended`.
The three observation hooks return nothing; an exception in one is reported as a warning and
the search goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    import optuna

    from automl.recipe import Recipe
    from automl.run import SearchResult
    from automl.search import TrialEnd

PROJECT = "automl"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_backends(register: Any) -> None:
    """Register training backends. Called once, when the plugins are first loaded.

    :param register: call ``register(name, factory, description="...")`` for each backend.
        ``factory`` is a :class:`automl.backends.Backend` subclass (or any callable) that takes
        the recipe's ``backend.options`` as keyword arguments and returns a backend. Annotated
        keyword arguments are checked against the recipe's values and listed by
        ``automl backends`` with their defaults.
    """


@hookspec
def search_started(recipe: Recipe, study: optuna.Study, run_dir: Path) -> None:
    """Called once before the first trial of a search (or of a continued search).

    :param recipe: the validated recipe, overrides applied.
    :param study: the Optuna study, which may already hold trials of earlier calls.
    :param run_dir: the run folder.
    """


@hookspec
def trial_ended(trial: TrialEnd, study: optuna.Study) -> None:
    """Called after each trial is told to the study: complete, pruned or failed.

    :param trial: number, state, value (``None`` unless complete), reason and the trial's user
        attributes (``fold_values``, ``std``, ``epochs``, ``seconds``, ``architecture``, ...).
    :param study: the Optuna study.
    """


@hookspec
def search_ended(result: SearchResult) -> None:
    """Called once after the leaderboard, the best bundle and ``run.json`` are written.

    :param result: the :class:`automl.run.SearchResult` that ``automl.search`` returns.
    """
