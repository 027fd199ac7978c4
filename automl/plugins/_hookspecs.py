"""Hook specifications: what a plugin can provide. Plugins implement them with ``@automl.hookimpl``.

A plugin is a module or object registered under the entry-point group ``automl``::

    [project.entry-points.automl]
    my_backend = "my_package.plugin"

Hooks by phase: :func:`register_backends` when the plugins load; then, for every search,
:func:`make_trial_pool` when it runs several trials at once, :func:`search_started`,
:func:`trial_ended` after each trial, and :func:`search_ended`. The three observation hooks
return nothing; an exception in one is reported as a warning and the search goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    import optuna

    from automl.events import TrialEnd
    from automl.recipe import Recipe
    from automl.results import SearchResult
    from automl.training import Backend
    from automl.tuning import SearchJob, TrialPool

PROJECT = "automl"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_backends(register: Any) -> None:
    """Register training backends. Called once, when the plugins are first loaded.

    :param register: call ``register(name, factory, description="...")`` for each backend.
        ``factory`` is a :class:`automl.training.Backend` subclass (or any callable) that takes
        the recipe's ``backend.options`` as keyword arguments and returns a backend. Annotated
        keyword arguments are checked against the recipe's values and listed by
        ``automl backends`` with their defaults.
    """


@hookspec(firstresult=True)
def make_trial_pool(
    backend: Backend, options: dict[str, Any], workers: int, job: SearchJob
) -> TrialPool | None:
    """Make the workers that train ``workers`` trials at once for ``search.parallel``.

    The first plugin that returns a pool wins; plugins registered later are asked first, so a
    plugin can take over from the built-in pool, which trains a process-safe backend
    (:attr:`automl.training.Backend.process_safe`) in local worker processes. Return ``None`` for
    a backend this plugin does not know.

    :param backend: the search's backend, made from the recipe.
    :param options: the options it was made with (the recipe's ``backend.options``, checked).
    :param workers: trials at once (``search.parallel``).
    :param job: the search's rows, folds, training settings, metric and per-trial time limit,
        which the pool hands each worker once (see :class:`automl.tuning.TrialPool`).
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
        attributes (``fold_values``, ``std``, ``epochs``, ``seconds``, ``architecture``, ...;
        their keys are in :mod:`automl.tuning.record`).
    :param study: the Optuna study.
    """


@hookspec
def search_ended(result: SearchResult) -> None:
    """Called once after the leaderboard, the best bundle and ``run.json`` are written.

    :param result: the :class:`automl.results.SearchResult` that ``automl.search`` returns.
    """
