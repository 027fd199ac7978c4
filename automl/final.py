"""The best trial's final model: refit on all search rows, or the ensemble of its fold models."""

from __future__ import annotations

import numpy as np

from automl.backends import Backend, TrainSettings
from automl.bundle import Member, ModelBundle
from automl.data import Dataset
from automl.evaluate import Folds, evaluate_spec
from automl.metrics import score_all
from automl.preprocess import fit_transform
from automl.space import ModelSpec


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
    preprocessor, (x,) = fit_transform(dataset.schema, dataset.features)
    model = backend.fit(spec, x, dataset.target, len(dataset.classes), settings, epochs)
    return [Member(model, preprocessor)]


def holdout_scores(bundle: ModelBundle, holdout: Dataset, metric: str) -> dict[str, float]:
    """The bundle's metric, log-loss and accuracy on rows the search never saw."""
    return score_all(metric, holdout.target, bundle.predict_proba(holdout.features))
