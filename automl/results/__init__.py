"""Results: what a search leaves behind. The trials' stored predictions and fold models, the
scikit-learn references, the best trial bagged over seeds, greedy and stacked ensembles, the final
model, the leaderboard read from the study, the model bundle that ``automl predict`` loads, and its
features' permutation importance."""

from automl.results._artifacts import (
    artifact_key,
    keep_only,
    keep_trial,
    load_fold_models,
    load_model,
    load_oof,
    out_of_fold,
    pack_fold,
    save_fold_models,
    save_model,
)
from automl.results._bagging import bag_best_trial
from automl.results._bundle import BUNDLE_FILE, Member, ModelBundle, verify_bundle
from automl.results._ensemble import EnsembleChoice, candidate_name, choose_ensemble
from automl.results._final import best_bundle, holdout_scores, table_bundle, train_final
from automl.results._greedy import Selection, select_ensemble, selection_oof
from automl.results._importance import feature_importance
from automl.results._leaderboard import (
    ENSEMBLE_ATTR,
    REFERENCE_ATTRS,
    build_leaderboard,
    format_cell,
    to_markdown,
)
from automl.results._outcome import SearchResult
from automl.results._references import Reference, ensure_reference, fit_reference, references
from automl.results._stacking import Stacking, fit_stacker, stacked_proba
from automl.results._upgrade import upgrade_bundle

__all__ = [
    "BUNDLE_FILE",
    "ENSEMBLE_ATTR",
    "REFERENCE_ATTRS",
    "EnsembleChoice",
    "Member",
    "ModelBundle",
    "Reference",
    "SearchResult",
    "Selection",
    "Stacking",
    "artifact_key",
    "bag_best_trial",
    "best_bundle",
    "build_leaderboard",
    "candidate_name",
    "choose_ensemble",
    "ensure_reference",
    "feature_importance",
    "fit_reference",
    "fit_stacker",
    "format_cell",
    "holdout_scores",
    "keep_only",
    "keep_trial",
    "load_fold_models",
    "load_model",
    "load_oof",
    "out_of_fold",
    "pack_fold",
    "references",
    "save_fold_models",
    "save_model",
    "select_ensemble",
    "selection_oof",
    "stacked_proba",
    "table_bundle",
    "to_markdown",
    "train_final",
    "upgrade_bundle",
    "verify_bundle",
]
