"""One run as named phases: prepare → references → search → finalize → write.

Each phase is a short function over the :class:`_Prepared` run it is handed: the recipe, the
backend, the run folder, the rows and folds, the study. The installed plugins' observation hooks
see the search start, every trial end and the end.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from automl._files import write_text
from automl.data import Dataset, class_weights, load_dataset
from automl.errors import UserError
from automl.events import Progress, SearchPlan, Stop, TrialEnd
from automl.metrics import direction
from automl.plugins import Registry, registry
from automl.recipe import Recipe
from automl.results import (
    ModelBundle,
    SearchResult,
    bag_best_trial,
    best_bundle,
    build_leaderboard,
    ensure_reference,
    feature_importance,
    keep_trial,
    pack_fold,
    references,
    table_bundle,
)
from automl.run._budget import WRITING_SECONDS, CallBudget
from automl.run._distributed import open_table
from automl.run._folder import RunFolder
from automl.run._record import write_recipe_file, write_run_file
from automl.run._reopen import Run
from automl.spec import ModelSpec
from automl.training import Backend, DistributedTable, FoldEpochCallback, TrainSettings
from automl.tuning import (
    Budget,
    EpochHalving,
    Evaluation,
    Folds,
    SearchJob,
    TrialPool,
    evaluate_spec,
    evaluate_table,
    hold_sqlite,
    is_shared,
    open_study,
    record,
    requeue_interrupted,
    run_parallel,
    run_trials,
    train_settings,
)


@dataclass(frozen=True)
class _InMemory:
    """Rows read into this process: the search rows, the holdout and the folds."""

    search_rows: Dataset
    holdout: Dataset | None
    folds: Folds


@dataclass
class _Prepared:
    """What every phase after :func:`_prepare` works on: ``rows`` are read into this process,
    or a table the backend keeps where it is stored (``data.distributed``)."""

    recipe: Recipe
    backend: Backend
    plugins: Registry
    progress: Progress
    folder: RunFolder
    storage: str
    study: optuna.Study
    rows: _InMemory | DistributedTable
    settings: TrainSettings
    pool: TrialPool | None
    started: datetime
    clock: CallBudget


def run_recipe(
    recipe: Recipe,
    backend: Backend,
    *,
    fresh: bool = False,
    progress: Progress | None = None,
    table: pd.DataFrame | None = None,
    report: bool = True,
    sample_weight: np.ndarray | None = None,
    began: float | None = None,
) -> SearchResult:
    """Run a validated recipe with a ready backend (see :func:`automl.search`).

    ``table`` gives the training rows in memory instead of ``recipe.data.train``; ``report``
    writes ``report.html`` at the end. ``sample_weight`` (one non-negative number per row of the
    training rows) weighs each row's training loss, times its class's weight. The time budget
    (``search.timeout``) counts from ``began`` (a :func:`time.monotonic` time; default: now),
    and covers loading the data, the references, the trials, the final model and the files.
    """
    began = time.monotonic() if began is None else began
    with contextlib.ExitStack() as held:  # the SQLite study's lock, the trial workers
        run = _prepare(
            recipe, backend, held, fresh, progress or Progress(), table, sample_weight, began
        )
        budget = _references(run)
        stop, search_seconds = _search(run, budget)
        best, scores, final_seconds = _finalize(run)
        seconds = {"search": round(search_seconds, 2), **final_seconds}
        return _write(run, best, scores, stop, seconds, report)


def _prepare(
    recipe: Recipe,
    backend: Backend,
    held: contextlib.ExitStack,
    fresh: bool,
    progress: Progress,
    table: pd.DataFrame | None,
    sample_weight: np.ndarray | None,
    began: float,
) -> _Prepared:
    """Read, weigh and split the rows (or open the distributed table), start the pool, make the
    run folder and open the study."""
    started = datetime.now(timezone.utc)
    plugins = registry()
    settings = train_settings(recipe)
    rows: _InMemory | DistributedTable
    pool = None
    if recipe.data.distributed:
        rows = open_table(recipe, backend)
        held.callback(rows.close)
    else:
        rows = _read_rows(recipe, table, sample_weight)
        search = recipe.search
        pack = pack_fold if recipe.training.final_model == "ensemble" else None
        job = SearchJob(
            rows.search_rows, rows.folds, settings, search.metric, search.trial_timeout, pack
        )
        pool = _trial_pool(plugins, recipe, backend, job)
        if pool is not None:
            held.callback(pool.close)
    folder = RunFolder(recipe.run_dir)
    storage = recipe.search.storage or folder.default_storage
    if recipe.search.storage is not None:  # a shared database: check it before making the folder
        held.enter_context(hold_sqlite(storage))
        study = open_study(recipe, storage, fresh=fresh)
    folder.prepare()
    clock = CallBudget.start(recipe, folder, began)  # before run.json of this call is written
    write_recipe_file(folder, recipe)
    if recipe.search.storage is None:
        held.enter_context(hold_sqlite(storage))
        study = open_study(recipe, storage, fresh=fresh)
    if fresh:
        folder.clear_results()
    if not is_shared(storage):  # held by this process: every running trial is a dead one
        requeue_interrupted(study)
    if not study.trials:  # a new study starts with the recipe's warm start, in order
        for params in recipe.space.warm_start:
            study.enqueue_trial(params)
    plugins.notify("search_started", recipe=recipe, study=study, run_dir=folder.path)
    clock.study = study
    clock.remeasure()  # references and a best trial from an earlier call count
    return _Prepared(
        recipe, backend, plugins, progress, folder, storage, study,
        rows, settings, pool, started, clock,
    )  # fmt: skip


def _read_rows(
    recipe: Recipe, table: pd.DataFrame | None, sample_weight: np.ndarray | None
) -> _InMemory:
    """The recipe's rows (or ``table``) in this process, weighed and split."""
    dataset = replace(load_dataset(recipe.data, table), weights=sample_weight)
    search_rows, holdout = dataset.split_holdout(recipe.data.holdout, recipe.search.seed)
    by_class = class_weights(search_rows, recipe.training.class_weight)
    search_rows = search_rows.weighted(by_class)
    if holdout is not None:  # weighed as the search rows, for a final model fitted on both
        holdout = holdout.weighted(by_class)
    folds = list(search_rows.folds(recipe.search.folds, recipe.search.seed))
    return _InMemory(search_rows, holdout, folds)


def _references(run: _Prepared) -> Budget:
    """Announce the search, train the references it lacks; the budget left for the trials.

    The references' time counts against the search's time budget, and the trials end early
    enough to leave the final model the time it is expected to take.
    """
    search = run.recipe.search
    run.progress.search_started(
        SearchPlan(
            planned=search.trials,
            timeout=search.timeout,
            folds=run.rows.folds if isinstance(run.rows, DistributedTable) else len(run.rows.folds),
            max_epochs=run.settings.max_epochs,
            metric=search.metric,
        )
    )
    for reference in references(run.recipe):
        assert isinstance(run.rows, _InMemory)  # a distributed table refuses references
        folder = run.folder.reference(reference.name)
        row = ensure_reference(
            run.study, run.rows.search_rows, run.rows.folds, reference, search.metric, folder
        )
        run.clock.remeasure()
        value = float(row[record.EXTRA_ROW_VALUE])
        best = _best_so_far(run)
        assert best is not None  # this reference is scored
        run.progress.reference_ended(reference.name, value, row, best)
    left = run.clock.trials_left()
    return Budget(
        search.trials,
        None if left is None else max(0.0, left),
        search.max_failures,
        ends_at=run.clock.trials_end,
    )


def _search(run: _Prepared, budget: Budget) -> tuple[Stop, float]:
    """Run the trials, one at a time here or several at once on the pool; why they stopped and
    how long they took."""
    recipe, study, progress = run.recipe, run.study, run.progress
    metric = recipe.search.metric
    tags = {record.BACKEND: recipe.backend.name}

    rows = run.rows
    limits: dict[str, Any] = {
        "time_limit": recipe.search.trial_timeout,
        "stop_at": None if run.clock.deadline is None else run.clock.trials_end,
    }

    def scored(spec: ModelSpec, evaluation: Evaluation) -> None:
        if recipe.training.final_model == "ensemble":
            assert isinstance(rows, _InMemory)  # a distributed table refuses ensembles
            writing = time.perf_counter()
            keep_trial(run.folder.trials, spec, evaluation, rows.folds, len(rows.search_rows))
            run.clock.kept_seconds.append(time.perf_counter() - writing)

    def score(
        spec: ModelSpec,
        after_fold: Callable[[int, Evaluation], None],
        after_epoch: FoldEpochCallback | None,
    ) -> Evaluation:
        on_epoch = _both(progress.epoch_ended, after_epoch)
        if isinstance(rows, DistributedTable):
            return evaluate_table(spec, rows, run.settings, metric, after_fold, on_epoch, **limits)
        evaluation = evaluate_spec(
            spec, rows.search_rows, rows.folds, run.backend, run.settings, metric,
            after_fold, on_epoch, **limits,
        )  # fmt: skip
        scored(spec, evaluation)
        return evaluation

    def trial_ended(end: TrialEnd) -> None:
        run.clock.remeasure()
        progress.trial_ended(end, _best_so_far(run))
        run.plugins.notify("trial_ended", trial=end, study=study)

    halving = EpochHalving.from_recipe(recipe.search.halving)
    clock = time.perf_counter()
    try:
        if run.pool is None:
            stop = run_trials(
                study, recipe.space, score, budget, progress.trial_started, trial_ended,
                trial_attrs=tags, halving=halving,
            )  # fmt: skip
        else:
            assert isinstance(run.rows, _InMemory)  # a distributed table runs one trial at once
            stop = run_parallel(
                study, recipe.space, run.pool, budget, len(run.rows.folds), metric,
                progress.trial_started, trial_ended, scored, trial_attrs=tags, halving=halving,
            )  # fmt: skip
            run.pool.close()  # the final model trains here, on every core
    finally:
        progress.search_ended()
    return stop, time.perf_counter() - clock


def _both(first: FoldEpochCallback, then: FoldEpochCallback | None) -> FoldEpochCallback:
    """One epoch callback that calls ``first``, then ``then`` (which may stop the trial)."""
    if then is None:
        return first

    def epoch_ended(fold: int, epoch: int, logs: dict[str, float]) -> None:
        first(fold, epoch, logs)
        then(fold, epoch, logs)

    return epoch_ended


def _best_so_far(run: _Prepared) -> float | None:
    """The best value of the complete trials and the scored references (``None`` before any)."""
    study = run.study
    values = [t.value for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    for reference in references(run.recipe):
        row = study.user_attrs.get(reference.name)
        if row:
            values.append(row[record.EXTRA_ROW_VALUE])
    scored = [float(v) for v in values if v is not None]
    if not scored:
        return None
    return min(scored) if direction(run.recipe.search.metric) == "minimize" else max(scored)


def _finalize(
    run: _Prepared,
) -> tuple[ModelBundle | None, dict[str, float] | None, dict[str, float]]:
    """Write the trials' leaderboard (so a failing final model loses nothing), then bag the best
    trial over seeds, choose and write the best bundle (or keep the one written) and score it on
    the holdout; the seconds of the bagging (when it ran) and of the final model.

    The final model's seconds leave the bagging out: a continued run's budget reads them back
    as the final model's time, and seeds once stored are not trained again.
    """
    run.folder.write_leaderboard(build_leaderboard(run.study))
    clock = time.perf_counter()
    recipe = run.recipe
    joining = recipe.training.final_model == "ensemble" and recipe.ensemble.reference
    reference_folders = {
        r.name: run.folder.reference(r.name) for r in references(recipe) if joining
    }
    shared = is_shared(run.storage)  # then another process on the study may write the bundle
    rows = run.rows
    seconds: dict[str, float] = {}
    with run.folder.only_writer() if shared else contextlib.nullcontext():
        if isinstance(rows, DistributedTable):
            best, scores = table_bundle(recipe, run.study, rows, run.settings, run.folder.best)
        else:
            if recipe.training.final_model == "ensemble" and recipe.ensemble.seeds > 1:
                bag_best_trial(
                    run.study, rows.search_rows, rows.folds, run.folder.trials, run.backend,
                    run.settings, recipe.search.metric, recipe.ensemble.seeds,
                    stop_at=run.clock.bagging_end,
                )  # fmt: skip
                seconds["bagging"] = round(time.perf_counter() - clock, 2)
                clock = time.perf_counter()
            best, scores = best_bundle(
                recipe,
                run.study,
                rows.search_rows,
                rows.holdout,
                rows.folds,
                run.backend,
                run.settings,
                folder=run.folder.best,
                trials_dir=run.folder.trials,
                references=reference_folders,
            )
    seconds["final_model"] = round(time.perf_counter() - clock, 2)
    return best, scores, seconds


def _write(
    run: _Prepared,
    best: ModelBundle | None,
    scores: dict[str, float] | None,
    stop: Stop,
    seconds: dict[str, float],
    report: bool,
) -> SearchResult:
    """Write the leaderboard, the predictions, the feature importance, ``run.json`` (with
    ``seconds``, the steps so far, and the importance's) and the report; tell the plugins."""
    recipe, folder = run.recipe, run.folder
    board = build_leaderboard(run.study)  # with the ensemble's and the references' rows
    folder.write_leaderboard(board)
    if best is not None and recipe.data.test is not None:
        write_text(folder.predictions, best.predict_file(recipe.data.test).to_csv(index=False))
    clock = time.perf_counter()
    left = run.clock.left()
    holdout = run.rows.holdout if isinstance(run.rows, _InMemory) else None
    importance = _importance(
        best, holdout, recipe.search.seed, None if left is None else left - WRITING_SECONDS
    )
    seconds = {**seconds, "importance": round(time.perf_counter() - clock, 2)}
    written = write_run_file(
        folder, recipe, run.study, run.storage, run.started, seconds, scores, stop, importance
    )
    if report:
        opened = Run(folder, run.study, recipe, written, best=best, holdout_rows=holdout)
        _write_report(opened)
    result = SearchResult(board, best, run.study, scores, folder.path, stop)
    run.plugins.notify("search_ended", result=result)
    return result


def _trial_pool(
    plugins: Registry, recipe: Recipe, backend: Backend, job: SearchJob
) -> TrialPool | None:
    """The workers that run ``search.parallel`` trials at once (``None``: one at a time here)."""
    wanted = recipe.search.parallel
    if wanted == 1:
        return None
    known = plugins.backends.get(recipe.backend.name)  # else a backend made by the caller
    options = known.check(recipe.backend.options) if known else dict(recipe.backend.options)
    pool = plugins.trial_pool(backend, options, wanted, job)
    if pool is None:
        raise UserError(
            f"search.parallel: backend '{recipe.backend.name}' trains one trial at a time; "
            f"for {wanted} trials at once use backend local (worker processes) or spark-trials"
        )
    return pool


def _importance(
    best: ModelBundle | None, holdout: Dataset | None, seed: int, seconds: float | None
) -> dict[str, Any] | None:
    """The best model's permutation feature importance on the holdout rows (``None`` without
    either), in at most ``seconds`` (``None``: no limit); one that cannot be computed warns and
    never fails the search."""
    if best is None or holdout is None:
        return None
    try:
        best.trace()  # its holdout scores are written: from here, predicting is all that counts
        return feature_importance(
            best, holdout.features, holdout.target, seed=seed, seconds=seconds
        )
    except Exception as exc:  # the model is written already; the importance explains it
        _warn_skipped("feature importance not computed", exc)
        return None


def _write_report(run: Run) -> None:
    """Write ``report.html``; a report that cannot be drawn warns and never fails the search."""
    from automl.run._report import write_report  # matplotlib loads only when a run ends

    try:
        write_report(run)
    except Exception as exc:  # the results are written already; the report is a view of them
        _warn_skipped("report.html not written", exc)


def _warn_skipped(what: str, exc: Exception) -> None:
    """Warn, in one line, that an optional last step of the search failed, and why."""
    reason = str(exc).splitlines()[0] if str(exc) else ""
    warnings.warn(f"{what}: {type(exc).__name__}: {reason}", stacklevel=3)
