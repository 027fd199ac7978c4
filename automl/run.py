"""A whole run: recipe → dataset → study → trials → leaderboard, best bundle and run.json."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from automl._files import recover, write_text
from automl.artifacts import TRIALS_FOLDER
from automl.backends import Backend, TrainSettings
from automl.bundle import ModelBundle
from automl.data import load_dataset
from automl.errors import UserError
from automl.evaluate import Evaluation, evaluate_spec
from automl.final import best_bundle, keep_trial
from automl.leaderboard import REFERENCE_ATTRS, build_leaderboard, write_leaderboard
from automl.plugins import registry
from automl.progress import Progress
from automl.recipe import Recipe, load_recipe
from automl.reference import ensure_reference, references
from automl.runfile import RUN_FILE, write_run_file
from automl.search import INTERRUPTED, Budget, TrialEnd, run_parallel, run_trials
from automl.sharing import hold_sqlite, is_shared
from automl.space import ModelSpec
from automl.study import default_storage, open_study, requeue_interrupted
from automl.workers import SearchJob, TrialPool

_ARTIFACTS = (
    "best",
    "leaderboard.csv",
    "leaderboard.md",
    RUN_FILE,
    "predictions.csv",
    TRIALS_FOLDER,
    *REFERENCE_ATTRS,
)


@dataclass
class SearchResult:
    """What a search hands back.

    Attributes:
        leaderboard: one row per trial, best first (:func:`automl.leaderboard.build_leaderboard`).
        best: the best trial's model bundle, or ``None`` when no trial completed.
        study: the Optuna study (continue it, plot it, or open it in optuna-dashboard).
        holdout: the best bundle's scores on the holdout rows, when there is a holdout.
        run_dir: the run folder.
        interrupted: ``True`` when Ctrl-C ended the search early.
        stopped: why the search stopped before its budget ("" when it did not).
    """

    leaderboard: pd.DataFrame
    best: ModelBundle | None
    study: optuna.Study
    holdout: dict[str, float] | None
    run_dir: Path
    interrupted: bool = False
    stopped: str = ""


def search(
    recipe: str | Path | dict[str, Any] | Recipe,
    *,
    trials: int | None = None,
    timeout: str | int | None = None,
    trial_timeout: str | int | None = None,
    parallel: int | None = None,
    storage: str | None = None,
    backend: str | None = None,
    output: str | Path | None = None,
    seed: int | None = None,
    fresh: bool = False,
    progress: Progress | None = None,
) -> SearchResult:
    """Run (or continue) the search a recipe describes and return its result.

    Keyword arguments override the recipe's fields. Running the same recipe again continues the
    study in its run folder with more trials; ``fresh=True`` starts over.

    Example:
        >>> result = automl.search("recipes/quickstart.yaml", trials=5)  # doctest: +SKIP
        >>> result.leaderboard.head()  # doctest: +SKIP
        >>> result.best.predict_proba(frame)  # doctest: +SKIP
    """
    overrides = {
        "search.trials": trials,
        "search.timeout": timeout,
        "search.trial_timeout": trial_timeout,
        "search.parallel": parallel,
        "search.storage": storage,
        "backend.name": backend,
        "output": output,
        "search.seed": seed,
    }
    loaded = load_recipe(recipe, {k: v for k, v in overrides.items() if v is not None})
    chosen = registry().backend(loaded.backend.name).create(loaded.backend.options)
    try:
        return run_recipe(loaded, chosen, fresh=fresh, progress=progress)
    finally:
        chosen.close()


def run_recipe(
    recipe: Recipe,
    backend: Backend,
    *,
    fresh: bool = False,
    progress: Progress | None = None,
    table: pd.DataFrame | None = None,
    report: bool = True,
) -> SearchResult:
    """Run a validated recipe with a ready backend (see :func:`search`).

    ``table`` gives the training rows in memory instead of ``recipe.data.train``; ``report``
    writes ``report.html`` at the end. The installed
    plugins' observation hooks see the search start, every trial end and the end.
    """
    with contextlib.ExitStack() as held:  # the SQLite study's lock, the trial workers
        return _run_recipe(recipe, backend, held, fresh, progress, table, report)


def _run_recipe(
    recipe: Recipe,
    backend: Backend,
    held: contextlib.ExitStack,
    fresh: bool,
    progress: Progress | None,
    table: pd.DataFrame | None,
    report: bool,
) -> SearchResult:
    plugins = registry()
    started = datetime.now(timezone.utc)
    dataset = load_dataset(recipe.data, table)
    search_rows, holdout = dataset.split_holdout(recipe.data.holdout, recipe.search.seed)
    folds = list(search_rows.folds(recipe.search.folds, recipe.search.seed))
    settings = _settings(recipe)
    metric = recipe.search.metric
    job = SearchJob(search_rows, folds, settings, metric, recipe.search.trial_timeout)
    pool = _trial_pool(recipe, backend, job)
    if pool is not None:
        held.callback(pool.close)
    storage = recipe.search.storage or default_storage(recipe.run_dir)
    if recipe.search.storage is not None:  # a shared database: check it before making the folder
        held.enter_context(hold_sqlite(storage))
        study = open_study(recipe, storage, fresh=fresh)
    run_dir = _prepare_run_dir(recipe.run_dir)
    recover(run_dir)  # what a killed run's writes left behind
    if recipe.search.storage is None:
        held.enter_context(hold_sqlite(storage))
        study = open_study(recipe, storage, fresh=fresh)
    if fresh:
        _remove_artifacts(run_dir)
    if not is_shared(storage):  # held by this process: every running trial is a dead one
        requeue_interrupted(study)
    if not study.trials:  # a new study starts with the recipe's warm start, in order
        for params in recipe.space.warm_start:
            study.enqueue_trial(params)
    plugins.notify("search_started", recipe=recipe, study=study, run_dir=run_dir)
    progress = progress or Progress()

    def score(spec: ModelSpec, after_fold: Callable) -> Any:
        evaluation = evaluate_spec(
            spec,
            search_rows,
            folds,
            backend,
            settings,
            metric,
            after_fold,
            progress.epoch_ended,
            time_limit=recipe.search.trial_timeout,
        )
        scored(spec, evaluation)
        return evaluation

    def scored(spec: ModelSpec, evaluation: Evaluation) -> None:
        if recipe.training.final_model == "ensemble":
            keep_trial(run_dir, spec, evaluation, folds, len(search_rows))

    def trial_ended(end: TrialEnd) -> None:
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        progress.trial_ended(end, study.best_value if done else None)
        plugins.notify("trial_ended", trial=end, study=study)

    budget = Budget(recipe.search.trials, recipe.search.timeout, recipe.search.max_failures)
    progress.search_started(
        planned=budget.trials,
        timeout=budget.timeout,
        folds=len(folds),
        max_epochs=settings.max_epochs,
        metric=metric,
    )
    for reference in references(recipe):  # their time counts against the search's time budget
        clock = time.perf_counter()
        ensure_reference(study, search_rows, folds, reference, metric, run_dir)
        if budget.timeout is not None:
            spent = time.perf_counter() - clock
            budget = replace(budget, timeout=max(1.0, budget.timeout - spent))
    tags = {"backend": recipe.backend.name}
    clock = time.perf_counter()
    try:
        if pool is None:
            stopped = run_trials(
                study,
                recipe.space,
                score,
                budget,
                progress.trial_started,
                trial_ended,
                trial_attrs=tags,
            )
        else:
            stopped = run_parallel(
                study,
                recipe.space,
                pool,
                budget,
                len(folds),
                metric,
                progress.trial_started,
                trial_ended,
                scored,
                trial_attrs=tags,
            )
            pool.close()  # the final model trains here, on every core
    finally:
        progress.search_ended()
    search_seconds = time.perf_counter() - clock
    board = build_leaderboard(study)
    write_leaderboard(board, run_dir)
    clock = time.perf_counter()
    with _only_writer(run_dir):  # another process on the study may be writing the same bundle
        best, scores = best_bundle(recipe, study, search_rows, holdout, folds, backend, settings)
    if recipe.training.final_model == "ensemble" or references(recipe):
        board = build_leaderboard(study)  # with the ensemble's and the references' rows
        write_leaderboard(board, run_dir)
    if best is not None and recipe.data.test is not None:
        write_text(
            run_dir / "predictions.csv", best.predict_file(recipe.data.test).to_csv(index=False)
        )
    write_run_file(
        run_dir,
        recipe,
        study,
        storage,
        started,
        {"search": round(search_seconds, 2), "final_model": round(time.perf_counter() - clock, 2)},
        scores,
        stopped,
    )
    if report:
        _write_report(run_dir)
    result = SearchResult(
        board, best, study, scores, run_dir, interrupted=stopped == INTERRUPTED, stopped=stopped
    )
    plugins.notify("search_ended", result=result)
    return result


def _trial_pool(recipe: Recipe, backend: Backend, job: SearchJob) -> TrialPool | None:
    """The workers that run ``search.parallel`` trials at once (``None``: one at a time here)."""
    wanted = recipe.search.parallel
    if wanted == 1:
        return None
    pool = backend.trial_pool(wanted, job)
    if pool is None:
        raise UserError(
            f"search.parallel: backend '{recipe.backend.name}' trains one trial at a time; "
            f"for {wanted} trials at once use backend local (worker processes) or spark-trials"
        )
    return pool


@contextlib.contextmanager
def _only_writer(run_dir: Path) -> Iterator[None]:
    """Hold the run folder while the best bundle is chosen and written: a second process on the
    same study and folder waits, then finds the bundle written and keeps it."""
    handle = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def _settings(recipe: Recipe) -> TrainSettings:
    stopping = recipe.training.early_stopping
    return TrainSettings(
        max_epochs=recipe.training.max_epochs,
        monitor=stopping.monitor,
        patience=stopping.patience,
        min_delta=stopping.min_delta,
        restore_best_weights=stopping.restore_best_weights,
        seed=recipe.search.seed,
    )


def _prepare_run_dir(run_dir: Path) -> Path:
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"output: {run_dir} is a file, expected a folder")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"output: cannot create {run_dir}: {exc.strerror}") from None
    if not os.access(run_dir, os.W_OK):
        raise UserError(f"output: {run_dir} is not writable")
    return run_dir


def _remove_artifacts(run_dir: Path) -> None:
    for name in _ARTIFACTS:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _write_report(run_dir: Path) -> None:
    """Write ``report.html``; a report that cannot be drawn warns and never fails the search."""
    from automl.report import write_report  # matplotlib loads only when a run ends

    try:
        write_report(run_dir)
    except Exception as exc:  # the results are written already; the report is a view of them
        reason = str(exc).splitlines()[0] if str(exc) else ""
        warnings.warn(f"report.html not written: {type(exc).__name__}: {reason}", stacklevel=2)
