"""The Optuna study: storage, sampler, pruner, and recovery of trials a killed run left behind."""

from __future__ import annotations

import contextlib
import importlib.util
import time
import warnings
from typing import cast

import optuna
from optuna.trial import TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    IntegrityError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)

from automl.errors import UserError
from automl.metrics import direction
from automl.recipe import Recipe
from automl.tuning import record
from automl.tuning._sharing import heartbeat_options, is_shared, retry_trial


def connect_storage(
    url: str, attempts: int = 5, *, heartbeat: int | None = None
) -> optuna.storages.RDBStorage:
    """Open an Optuna database, riding out another process creating its tables at the same moment.

    Two processes opening a new database together race to write its schema; the loser sees a
    unique-constraint, locked-database or (PostgreSQL) "type already exists" error, and a moment
    later finds the schema made.
    ``heartbeat`` (seconds) turns on Optuna's heartbeats for a study several processes share.
    A plain ``postgresql://`` URL uses psycopg 3 (``pip install 'automl[postgres]'``).
    """
    options = {} if heartbeat is None else heartbeat_options(heartbeat)
    target = make_url(url)
    if target.drivername == "postgresql":
        target = target.set(drivername="postgresql+psycopg")
    address = target.render_as_string(hide_password=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for attempt in range(1, attempts):
            try:
                return optuna.storages.RDBStorage(address, **options)
            except (IntegrityError, OperationalError, ProgrammingError):
                time.sleep(0.2 * attempt)
        return optuna.storages.RDBStorage(address, **options)


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """The recipe's sampler, seeded."""
    if name == "tpe":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # constant_liar: trials still running count as bad points, so parallel workers
            # are not all sent to the same promising spot
            return optuna.samplers.TPESampler(
                seed=seed, multivariate=True, group=True, constant_liar=True
            )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        if importlib.util.find_spec("torch") is None:
            raise UserError(
                "search.sampler: gp needs PyTorch, which is not installed: "
                "pip install 'automl[gp]' (or pick tpe, random, cmaes or qmc)"
            )
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)


def make_pruner(name: str, n_folds: int) -> optuna.pruners.BasePruner:
    """The recipe's pruner; its steps are folds."""
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=n_folds)
    return optuna.pruners.NopPruner()


def open_study(recipe: Recipe, storage: str, *, fresh: bool) -> optuna.Study:
    """Create the recipe's study, or load it to continue; ``fresh`` deletes it first."""
    name, metric = recipe.name, recipe.search.metric
    try:
        rdb = connect_storage(
            storage, heartbeat=recipe.search.heartbeat if is_shared(storage) else None
        )
        if fresh:
            with contextlib.suppress(KeyError):
                optuna.delete_study(study_name=name, storage=rdb)
        study = optuna.create_study(
            study_name=name,
            storage=rdb,
            load_if_exists=True,
            direction=direction(metric),
            sampler=make_sampler(recipe.search.sampler, recipe.search.seed),
            pruner=make_pruner(recipe.search.pruner, recipe.search.folds),
        )
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)  # the driver's error, on the DBAPIError subclasses
        reason = str(orig if orig else exc).splitlines()[0]
        raise UserError(f"search.storage: cannot open {hide_password(storage)}: {reason}") from None
    except ImportError:
        raise UserError(
            f"search.storage: the driver for {make_url(storage).get_backend_name()} is not "
            "installed; for PostgreSQL: pip install 'automl[postgres]'"
        ) from None
    _check_comparable(study, recipe)
    return study


def _check_comparable(study: optuna.Study, recipe: Recipe) -> None:
    """A continued study keeps its metric and its splits, or its trials would not compare."""
    wanted = {
        "search.metric": recipe.search.metric,
        "search.seed": recipe.search.seed,
        "search.folds": recipe.search.folds,
        "data.holdout": recipe.data.holdout,
    }
    for field, value in wanted.items():
        attr = record.METRIC if field == "search.metric" else field
        recorded = study.user_attrs.get(attr)
        if recorded is None:
            study.set_user_attr(attr, value)
        elif recorded != value:
            raise UserError(
                f"{field}: the study '{recipe.name}' was made with {recorded}, not {value}, "
                "so its trials would not compare; use --fresh to start over or another --output"
            )


def requeue_interrupted(study: optuna.Study) -> list[int]:
    """Mark trials left running by a killed run as failed and queue their parameters again.

    Only for a study one process holds (SQLite, see :func:`automl.tuning.hold_sqlite`): every
    running trial is then a dead one. A shared study finds its dead trials by their heartbeats.
    """
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        study.tell(trial.number, state=TrialState.FAIL)
        retry_trial(study, trial)
    return [trial.number for trial in stale]


def ranked_trials(study: optuna.Study, metric: str) -> list[optuna.trial.FrozenTrial]:
    """The study's complete trials, best first by ``metric``'s direction (ties: the earlier
    first)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    sign = 1.0 if direction(metric) == "minimize" else -1.0
    # A complete trial has its value.
    return sorted(complete, key=lambda t: (sign * cast(float, t.value), t.number))


def hide_password(storage: str) -> str:
    """The storage URL with any password masked, for messages and run.json."""
    return make_url(storage).render_as_string(hide_password=True)
