"""The trial record: the keys of what a trial stores in its user attributes, and of the study's.

A trial's record is written by the search as its folds are scored and read by the leaderboard,
the final model, the report and ``run.json``; these names are the one place its keys are spelled.
"""

from __future__ import annotations

# A trial's user attributes.
SPEC = "spec"  # the ModelSpec as a dict
ARCHITECTURE = "architecture"  # the spec in one readable cell
BACKEND = "backend"  # the backend that trained it
FOLD_VALUES = "fold_values"  # the metric on each fold scored so far
STD = "std"
LOG_LOSS = "log_loss"
ACCURACY = "accuracy"
EPOCHS = "epochs"  # epochs run on each fold
BEST_EPOCHS = "best_epochs"  # the kept epoch of each fold (1-based)
SECONDS = "seconds"
WRITE_SECONDS = "write_seconds"  # a reference's: writing its fold models, which an ensemble reads
N_PARAMS = "n_params"
HISTORY = "history"  # each fold's per-epoch Keras metrics
RUNGS = "rungs"  # the first fold's validation loss at each halving rung reached ({"3": 0.61})
FAIL_REASON = "fail_reason"
PRUNE_REASON = "prune_reason"  # which pruner stopped the trial, and where

# The study's user attributes.
METRIC = "metric"  # the recipe's metric, which every trial's value is
EXTRA_ROW_VALUE = "value"  # in the record of a row that is no trial (a reference, the ensemble)
