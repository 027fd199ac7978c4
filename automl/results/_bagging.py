"""Bagging over seeds: the best trial trained again with other seeds, on the same folds.

A network's fold models vary with the seed of their initial weights and batches; averaging
several seeds' predictions lowers the log-loss of the average below any one of them. With
``ensemble.seeds: n``, after the search the best trial with stored fold models is trained
``n - 1`` more times, seed ``k`` under ``seed_<k>/`` of its folder (laid out as the folder
itself, see :func:`automl.results.save_fold_models`). The ensemble then sees that candidate as
the mean of its seeds' out-of-fold predictions, and bundles every seed's fold models.

On Otto (``bench/levers.py``), the best network bagged over 3 seeds went from 0.506 to 0.491
out of fold, and the stacked ensemble from 0.474 to 0.470.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna

from automl.data import Dataset
from automl.errors import TrialFailed
from automl.results._artifacts import artifact_key, load_oof, out_of_fold, save_fold_models
from automl.spec import ModelSpec
from automl.training import Backend, TrainSettings
from automl.tuning import Folds, evaluate_spec, ranked_trials, record

SEED_STEP = 1000  # seed k trains fold i with the search's seed + k * SEED_STEP + i


def stored_seeds(folder: Path) -> dict[Path, np.ndarray]:
    """Each stored seed of the trial in ``folder``, in seed order (``folder`` itself first): its
    folder and out-of-fold predictions (empty: none are stored). A seed shaped unlike the first
    (another search's) ends them."""
    found: dict[Path, np.ndarray] = {}
    while True:
        seed = _seed_folder(folder, len(found))
        oof = load_oof(seed)
        if oof is None or (found and oof.shape != found[folder].shape):
            return found
        found[seed] = oof


def bag_best_trial(
    study: optuna.Study,
    dataset: Dataset,
    folds: Folds,
    trials_dir: Path,
    backend: Backend,
    settings: TrainSettings,
    metric: str,
    seeds: int,
    stop_at: Callable[[], float | None] = lambda: None,
) -> int:
    """Train the best complete trial with stored fold models again, with seeds 1 to
    ``seeds - 1`` (those not stored yet), each written under its folder; the seeds it has now.

    A seed starts only when ``stop_at()`` (a :func:`time.monotonic` time; ``None``: no limit)
    leaves the trial's own seconds for it, and one stopped by that time is not kept.
    """
    best = _best_stored(study, trials_dir, metric)
    if best is None:
        return 0
    trial, folder = best
    spec = ModelSpec.from_dict(trial.user_attrs[record.SPEC])
    needs = float(trial.user_attrs.get(record.SECONDS, 0.0))
    have = len(stored_seeds(folder))
    for k in range(have, seeds):
        end = stop_at()
        if end is not None and end - time.monotonic() < needs:
            break
        seeded = replace(settings, seed=settings.seed + SEED_STEP * k)
        try:
            evaluation = evaluate_spec(
                spec, dataset, folds, backend, seeded, metric, stop_at=stop_at
            )
        except TrialFailed:  # out of time, or a seed that diverged: the seeds so far are kept
            break
        if any(fold.result.model is None for fold in evaluation.folds):
            break  # a backend that hands back no fold models leaves nothing to bag
        probas = [fold.result.valid_proba for fold in evaluation.folds]
        pairs = [(fold.result.model, fold.preprocessor) for fold in evaluation.folds]
        save_fold_models(_seed_folder(folder, k), out_of_fold(probas, folds, len(dataset)), pairs)
        have = k + 1
    return have


def _seed_folder(folder: Path, k: int) -> Path:
    """Where seed ``k`` of the trial in ``folder`` is stored (seed 0: the folder itself)."""
    return folder if k == 0 else folder / f"seed_{k}"


def _best_stored(
    study: optuna.Study, trials_dir: Path, metric: str
) -> tuple[optuna.trial.FrozenTrial, Path] | None:
    """The best complete trial whose fold models are stored, and its folder."""
    for trial in ranked_trials(study, metric):
        spec = ModelSpec.from_dict(trial.user_attrs[record.SPEC])
        folder = trials_dir / artifact_key(spec.to_json())
        if load_oof(folder) is not None:
            return trial, folder
    return None
