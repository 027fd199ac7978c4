"""The final model: the best trial refit on all search rows or its fold models again, or the
ensemble of :mod:`automl.results._ensemble`; its holdout scores; the bundle written once."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from automl._version import library_versions
from automl.data import Dataset, fit_transform, typical_row
from automl.errors import UserError
from automl.metrics import score_all
from automl.recipe import Recipe
from automl.results._bundle import BUNDLE_FILE, Member, ModelBundle, read_manifest
from automl.results._ensemble import EnsembleChoice, candidate_name, choose_ensemble
from automl.results._leaderboard import ENSEMBLE_ATTR
from automl.results._references import Reference, fit_reference, references
from automl.spec import ModelSpec
from automl.training import Backend, DistributedTable, TrainSettings
from automl.tuning import Folds, evaluate_spec, record

REFITTED = "refitted_references"  # bundle info: the references fitted once on every row
REFITTED_ROWS = "refitted_rows"  # bundle info: how many rows they were fitted on


def train_final(
    spec: ModelSpec,
    best_epochs: list[int],
    dataset: Dataset,
    folds: Folds,
    backend: Backend,
    settings: TrainSettings,
    mode: str,
) -> list[Member]:
    """Train the bundle's members for ``spec``.

    ``refit`` trains one model on every search row for the mean of the folds' best epochs;
    ``fold_ensemble`` trains the k fold models again (same seeds) and averages them.
    """
    if mode == "fold_ensemble":
        evaluation = evaluate_spec(spec, dataset, folds, backend, settings, "log_loss")
        return [Member(r.result.model, r.preprocessor) for r in evaluation.folds]
    epochs = max(1, round(float(np.mean(best_epochs))))
    preprocessor, (x,) = fit_transform(dataset.schema, dataset.features, transform=spec.transform)
    n_classes = len(dataset.classes)
    model = backend.fit(spec, x, dataset.target, n_classes, settings, epochs, dataset.weights)
    return [Member(model, preprocessor)]


def holdout_scores(bundle: ModelBundle, holdout: Dataset, metric: str) -> dict[str, float]:
    """The bundle's metric, log-loss and accuracy on rows the search never saw."""
    return score_all(metric, holdout.target, bundle.predict_proba(holdout.features))


def best_bundle(
    recipe: Recipe,
    study: optuna.Study,
    search_rows: Dataset,
    holdout: Dataset | None,
    folds: Folds,
    backend: Backend,
    settings: TrainSettings,
    *,
    folder: Path,
    trials_dir: Path,
    references: dict[str, Path],
) -> tuple[ModelBundle | None, dict[str, float] | None]:
    """Make (or keep, when the saved one is the same) the run's bundle in ``folder``.

    With ``training.final_model: ensemble`` the candidates are the trials stored under
    ``trials_dir`` and the ``references`` (name: folder) that join the ensemble; the ensemble's
    scores go to the study's ``ensemble`` attribute, which the leaderboard shows as its own row.
    An ensemble is made of the references alone when no trial has completed (a search stopped
    early); any other final model needs a complete trial (``None, None`` without one).
    """
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    best_trial = study.best_trial if complete else None
    mode, metric = recipe.training.final_model, recipe.search.metric
    choice = None
    if mode == "ensemble":
        choice = choose_ensemble(
            study, search_rows, folds, trials_dir, recipe.ensemble, metric, references
        )
    if choice is None and best_trial is None:
        return None, None
    weights, method = (choice.weights, choice.method) if choice else (None, None)
    number = best_trial.number if best_trial is not None else None
    refits = _refitted_references(recipe, choice)
    every_row = search_rows.joined(holdout) if refits and holdout is not None else search_rows
    refitted_rows = len(every_row) if refits else 0
    kept = _existing_bundle(folder, number, mode, method, weights, sorted(refits), refitted_rows)
    if kept is not None:
        return kept, kept.info.get("holdout")
    bundle = _new_bundle(recipe, best_trial, choice, search_rows, folds, backend, settings)
    scores = holdout_scores(bundle, holdout, metric) if holdout else None
    if choice is not None and refits:  # scored above with the references' fold models
        fitted = {name: fit_reference(r, every_row) for name, r in refits.items()}
        info = {**bundle.info, REFITTED: sorted(refits), REFITTED_ROWS: refitted_rows}
        bundle = replace(bundle, members=choice.refitted(bundle.members, fitted), info=info)
    bundle.info["holdout"] = scores
    if choice is not None:
        row = {**choice.scores, record.EXTRA_ROW_VALUE: choice.scores[metric], "holdout": scores}
        study.set_user_attr(ENSEMBLE_ATTR, {**row, record.ARCHITECTURE: choice.describe()})
    bundle.save(folder)
    return bundle, scores


def _new_bundle(
    recipe: Recipe,
    best_trial: FrozenTrial | None,
    choice: EnsembleChoice | None,
    search_rows: Dataset,
    folds: Folds,
    backend: Backend,
    settings: TrainSettings,
) -> ModelBundle:
    """The bundle of the chosen ensemble's fold models, or of the best trial trained again (one
    of the two is given)."""
    mode, metric = recipe.training.final_model, recipe.search.metric
    spec = ModelSpec.from_dict(best_trial.user_attrs[record.SPEC]) if best_trial else None
    if choice is not None:
        members = choice.members()
        cv = {"metric": metric, "mean": choice.scores[metric], "std": None}
        architecture = choice.describe()
    else:  # refit, fold_ensemble, or an ensemble of a backend that keeps no fold models
        assert best_trial is not None and spec is not None  # best_bundle gives one or the other
        final = "fold_ensemble" if mode == "fold_ensemble" else "refit"
        best_epochs = best_trial.user_attrs[record.BEST_EPOCHS]
        members = train_final(spec, best_epochs, search_rows, folds, backend, settings, final)
        std = best_trial.user_attrs.get(record.STD)
        cv = {"metric": metric, "mean": best_trial.value, "std": std}
        architecture = spec.describe()
    info = {
        "trial": best_trial.number if best_trial is not None else None,
        "final_model": mode,
        "ensemble": choice.weights if choice else None,
        "ensemble_method": choice.method if choice else None,
        REFITTED: [],
        REFITTED_ROWS: 0,
        **_described(recipe, spec, architecture, typical_row(search_rows.features), cv),
    }
    stacker = choice.stacker if choice is not None else None
    return ModelBundle(
        members, search_rows.classes, search_rows.schema, recipe.data.id, info, stacker
    )


def _refitted_references(recipe: Recipe, choice: EnsembleChoice | None) -> dict[str, Reference]:
    """The references of the chosen ensemble that the final model fits once on every row, the
    holdout's too (``ensemble.refit_references``), by candidate name."""
    if choice is None or not recipe.ensemble.refit_references:
        return {}
    named = {candidate_name(reference.name): reference for reference in references(recipe)}
    return {name: named[name] for name in choice.weights if name in named}


def table_bundle(
    recipe: Recipe,
    study: optuna.Study,
    table: DistributedTable,
    settings: TrainSettings,
    folder: Path,
) -> tuple[ModelBundle | None, dict[str, float] | None]:
    """:func:`best_bundle` for a table kept where it is stored: the best trial trained again on
    every search row by the table, scored on the holdout from the table's counts (``None, None``
    without a complete trial)."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None, None
    best_trial, metric = study.best_trial, recipe.search.metric
    kept = _existing_bundle(folder, best_trial.number, "refit", None, None, [], 0)
    if kept is not None:
        return kept, kept.info.get("holdout")
    spec = ModelSpec.from_dict(best_trial.user_attrs[record.SPEC])
    epochs = max(1, round(float(np.mean(best_trial.user_attrs[record.BEST_EPOCHS]))))
    model, preprocessor = table.fit(spec, settings, epochs)
    cv = {"metric": metric, "mean": best_trial.value, "std": best_trial.user_attrs.get(record.STD)}
    info = {
        "trial": best_trial.number,
        "final_model": "refit",
        "ensemble": None,
        "ensemble_method": None,
        **_described(recipe, spec, spec.describe(), table.typical_row(), cv),
    }
    member = Member(model, preprocessor)
    bundle = ModelBundle([member], table.classes, table.schema, recipe.data.id, info)
    scores = (
        table.score_holdout(spec, model, preprocessor).scores(metric)
        if table.holdout_rows
        else None
    )
    bundle.info["holdout"] = scores
    bundle.save(folder)
    return bundle, scores


def _described(
    recipe: Recipe,
    spec: ModelSpec | None,
    architecture: str,
    example: dict[str, object],
    cv: dict[str, object],
) -> dict[str, object]:
    """The bundle's info that describes its model, its input and where it came from."""
    return {
        "spec": spec.to_dict() if spec is not None else None,
        "architecture": architecture,
        "target": recipe.data.target,
        "example": example,
        "cv": cv,
        "versions": library_versions(),
    }


def _existing_bundle(
    folder: Path,
    trial: int | None,
    mode: str,
    method: str | None,
    weights: dict[str, float] | None,
    refitted: list[str],
    refitted_rows: int,
) -> ModelBundle | None:
    """The saved bundle, when it already holds this final model; ``None`` when there is none, or
    one of an older format or damaged (the run writes it again)."""
    if not (folder / BUNDLE_FILE).is_file():
        return None
    try:
        manifest = read_manifest(folder)
        if (manifest.get("trial"), manifest.get("final_model")) != (trial, mode):
            return None
        if (manifest.get("ensemble_method"), manifest.get("ensemble")) != (method, weights):
            return None
        refit = (manifest.get(REFITTED, []), manifest.get(REFITTED_ROWS, 0))
        if refit != (refitted, refitted_rows):
            return None
        return ModelBundle.load(folder)
    except UserError:
        return None
