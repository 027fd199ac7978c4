"""The final model: the best trial refit on all search rows or its fold models again, or an
ensemble chosen over the stored fold models of the best trials (and the references)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from automl.artifacts import (
    TRIALS_FOLDER,
    artifact_key,
    keep_only,
    load_fold_models,
    load_oof,
    out_of_fold,
    save_fold_models,
)
from automl.backends import Backend, TrainSettings
from automl.bundle import BUNDLE_FILE, Member, ModelBundle
from automl.data import Dataset
from automl.ensemble import select_ensemble
from automl.evaluate import Evaluation, Folds, evaluate_spec
from automl.leaderboard import ENSEMBLE_ATTR
from automl.metrics import direction, score_all
from automl.preprocess import fit_transform
from automl.recipe import EnsembleConfig, Recipe
from automl.reference import references
from automl.runfile import library_versions
from automl.space import ModelSpec
from automl.stacking import fit_stacker


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
    model = backend.fit(spec, x, dataset.target, len(dataset.classes), settings, epochs)
    return [Member(model, preprocessor)]


def holdout_scores(bundle: ModelBundle, holdout: Dataset, metric: str) -> dict[str, float]:
    """The bundle's metric, log-loss and accuracy on rows the search never saw."""
    return score_all(metric, holdout.target, bundle.predict_proba(holdout.features))


def keep_trial(
    run_dir: Path, spec: ModelSpec, evaluation: Evaluation, folds: Folds, rows: int
) -> None:
    """Store a complete trial's out-of-fold predictions and fold models for the ensemble.

    A backend that hands back no fold models leaves nothing to store.
    """
    results = [record.result for record in evaluation.folds]
    if any(result.model is None for result in results):
        return
    oof = out_of_fold([result.valid_proba for result in results], folds, rows)
    pairs = [(record.result.model, record.preprocessor) for record in evaluation.folds]
    save_fold_models(run_dir / TRIALS_FOLDER / artifact_key(spec.to_json()), oof, pairs)


@dataclass
class EnsembleChoice:
    """The chosen ensemble: its method, weights by candidate (greedy) or each candidate's share
    of the stacker (stack), its out-of-fold scores, the candidates' folders and the stacker."""

    method: str
    weights: dict[str, float]
    scores: dict[str, float]
    folders: dict[str, Path]
    stacker: Any = None

    def describe(self) -> str:
        """One readable cell, e.g. ``trial 3 x0.5 + trial 7 x0.2 + reference x0.3``, or
        ``stacked: trial 3 0.4, trial 7 0.2, reference 0.4``."""
        if self.method == "stack":
            return "stacked: " + ", ".join(f"{n} {w:.2g}" for n, w in self.weights.items())
        return " + ".join(f"{name} x{weight:.2g}" for name, weight in self.weights.items())

    def members(self) -> list[Member]:
        """Each candidate's fold models, one group per candidate, its weight shared among them."""
        members = []
        for group, (name, weight) in enumerate(self.weights.items()):
            pairs = load_fold_models(self.folders[name])
            share = weight / len(pairs) if self.method == "greedy" else 1.0 / len(pairs)
            members += [Member(model, prep, share, group) for model, prep in pairs]
        return members


def choose_ensemble(
    study: optuna.Study,
    dataset: Dataset,
    folds: Folds,
    run_dir: Path,
    config: EnsembleConfig,
    metric: str,
    references: list[str],
) -> EnsembleChoice | None:
    """Greedy selection or a stacker over the best complete trials' stored out-of-fold
    predictions (``config.method``).

    The best ``config.candidates`` trials with stored predictions are the candidates, and the
    ``references`` (their folder names in the run); the folders of trials that can no longer be
    candidates are deleted. A stacker uses every candidate and is scored out of fold on
    ``folds``. ``None`` when no trial has stored predictions.
    """
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    ranked = sorted(
        complete,
        key=lambda t: (t.value if direction(metric) == "minimize" else -t.value, t.number),
    )
    folders: dict[str, Path] = {}
    oofs: list[np.ndarray] = []
    seen: set[str] = set()
    trials_dir = run_dir / TRIALS_FOLDER
    for trial in ranked:
        key = artifact_key(ModelSpec.from_dict(trial.user_attrs["spec"]).to_json())
        oof = load_oof(trials_dir / key)
        if oof is None or key in seen:  # a trial run again shares its first run's folder
            continue
        if oof.shape != (len(dataset), len(dataset.classes)):  # made from other data
            continue
        seen.add(key)
        folders[f"trial {trial.number}"] = trials_dir / key
        oofs.append(oof)
        if len(folders) == config.candidates:
            break
    keep_only(trials_dir, [f.name for f in folders.values()])
    if not folders:
        return None
    for name in references:
        reference_oof = load_oof(run_dir / name)
        if reference_oof is not None and reference_oof.shape == oofs[0].shape:
            folders[name.replace("_", " ")] = run_dir / name
            oofs.append(reference_oof)
    names = list(folders)
    if config.method == "stack":
        stacking = fit_stacker(oofs, dataset.target, folds)
        scores = score_all(metric, dataset.target, stacking.oof)
        shares = dict(zip(names, stacking.shares, strict=True))
        return EnsembleChoice("stack", shares, scores, folders, stacking.stacker)
    selection = select_ensemble(oofs, dataset.target, metric, config.rounds)
    weights = {names[i]: selection.weights[i] for i in selection.chosen()}
    blend = sum(w * oofs[names.index(n)].astype(np.float64) for n, w in weights.items())
    blend /= blend.sum(axis=1, keepdims=True)  # stored as float32: rows sum to 1 within 1e-7
    scores = score_all(metric, dataset.target, blend)
    return EnsembleChoice("greedy", weights, scores, {n: folders[n] for n in weights})


def best_bundle(
    recipe: Recipe,
    study: optuna.Study,
    search_rows: Dataset,
    holdout: Dataset | None,
    folds: Folds,
    backend: Backend,
    settings: TrainSettings,
) -> tuple[ModelBundle | None, dict[str, float] | None]:
    """Make (or keep, when the saved one is the same) the run's bundle in ``best/``.

    With ``training.final_model: ensemble`` the ensemble's scores go to the study's
    ``ensemble`` attribute, which the leaderboard shows as its own row.
    """
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None, None
    best_trial = study.best_trial
    mode = recipe.training.final_model
    metric = recipe.search.metric
    choice = None
    if mode == "ensemble":
        joining = [r.name for r in references(recipe)] if recipe.ensemble.reference else []
        choice = choose_ensemble(
            study, search_rows, folds, recipe.run_dir, recipe.ensemble, metric, joining
        )
    weights = choice.weights if choice is not None else None
    method = choice.method if choice is not None else None
    folder = recipe.run_dir / "best"
    kept = _existing_bundle(folder, best_trial.number, mode, method, weights)
    if kept is not None:
        return kept, kept.info.get("holdout")
    spec = ModelSpec.from_dict(best_trial.user_attrs["spec"])
    if choice is not None:
        members = choice.members()
        cv = {"metric": metric, "mean": choice.scores[metric], "std": None}
    else:  # refit, fold_ensemble, or an ensemble of a backend that keeps no fold models
        final = "fold_ensemble" if mode == "fold_ensemble" else "refit"
        members = train_final(
            spec, best_trial.user_attrs["best_epochs"], search_rows, folds, backend, settings, final
        )
        cv = {"metric": metric, "mean": best_trial.value, "std": best_trial.user_attrs.get("std")}
    bundle = ModelBundle(
        members,
        search_rows.classes,
        search_rows.schema,
        recipe.data.id,
        {
            "trial": best_trial.number,
            "final_model": mode,
            "ensemble": weights,
            "ensemble_method": method,
            "spec": spec.to_dict(),
            "architecture": choice.describe() if choice is not None else spec.describe(),
            "target": recipe.data.target,
            "cv": cv,
            "versions": library_versions(),
        },
        choice.stacker if choice is not None else None,
    )
    scores = holdout_scores(bundle, holdout, metric) if holdout else None
    bundle.info["holdout"] = scores
    if choice is not None:
        record = {**choice.scores, "value": choice.scores[metric], "holdout": scores}
        study.set_user_attr(ENSEMBLE_ATTR, {**record, "architecture": choice.describe()})
    bundle.save(folder)
    return bundle, scores


def _existing_bundle(
    folder: Path, trial: int, mode: str, method: str | None, weights: dict[str, float] | None
) -> ModelBundle | None:
    """The saved bundle, when it already holds this final model."""
    try:
        manifest = json.loads((folder / BUNDLE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (manifest.get("trial"), manifest.get("final_model")) != (trial, mode):
        return None
    if (manifest.get("ensemble_method"), manifest.get("ensemble")) != (method, weights):
        return None
    return ModelBundle.load(folder)
