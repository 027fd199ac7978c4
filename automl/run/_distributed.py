"""A search over a distributed table (``data.distributed``): what such a search allows, and the
table opened by the backend that keeps its rows where they are stored.

The rows never reach this process, so every option that needs them here is refused in one line
before anything is read: the references and ensembles (they need every row's out-of-fold
predictions), parallel trials in local workers, predictions for ``data.test``, and metrics that
need every row's probabilities.
"""

from __future__ import annotations

from automl.errors import UserError
from automl.metrics import COUNTED_METRICS
from automl.recipe import Recipe
from automl.results import references
from automl.training import Backend, DistributedTable, TableBackend, TableSource

_OUT_OF_FOLD = "needs every row's out-of-fold predictions in this process"


def open_table(recipe: Recipe, backend: Backend) -> DistributedTable:
    """The recipe's distributed table, opened by ``backend``.

    Raises:
        UserError: the backend cannot keep rows where they are, the recipe asks for something a
            distributed table does not allow, or the table is unusable (one line each).
    """
    check_distributed(recipe, backend)
    assert isinstance(backend, TableBackend)  # checked above
    data = recipe.data
    location = data.table if data.table is not None else str(data.train)
    source = TableSource(
        location=location,
        target=data.target,
        id=data.id,
        drop=tuple(data.drop),
        categorical=None if data.categorical == "auto" else tuple(data.categorical),
        holdout=data.holdout,
        folds=recipe.search.folds,
        seed=recipe.search.seed,
        class_weight=recipe.training.class_weight,
    )
    return backend.open_table(source)


def check_distributed(recipe: Recipe, backend: Backend) -> None:
    """Refuse, in one line naming the field, what a search over a distributed table cannot do.

    Raises:
        UserError: the first option that is not available.
    """
    enabled_references = [reference.name for reference in references(recipe)]
    refusals = [
        (
            not isinstance(backend, TableBackend),
            f"backend.name: '{recipe.backend.name}' trains on rows in this process; a "
            "distributed table needs spark-sync or spark-async",
        ),
        (
            recipe.data.train is None and recipe.data.table is None,
            "data.train: required: the Parquet file or folder to learn from (or data.table)",
        ),
        (
            recipe.training.final_model != "refit",
            f"training.final_model: {recipe.training.final_model} {_OUT_OF_FOLD} (or the fold "
            "models kept here); a distributed table's final model is refit",
        ),
        (
            bool(enabled_references),
            f"{next(iter(enabled_references), '')}.enabled: the references train in this "
            "process on every row; not available for a distributed table",
        ),
        (
            recipe.search.parallel > 1,
            "search.parallel: a distributed table's trials run one at a time, each on the "
            "whole cluster; set it to 1",
        ),
        (
            recipe.data.test is not None,
            "data.test: the predictions would be made in this process; predict a distributed "
            "table with the Spark Estimator's model (AutoMLModel.transform) instead",
        ),
        (
            recipe.search.metric not in COUNTED_METRICS,
            f"search.metric: {recipe.search.metric} needs every row's probabilities; a "
            f"distributed table is scored by counts: use {', '.join(COUNTED_METRICS)}",
        ),
    ]
    for refused, message in refusals:
        if refused:
            raise UserError(message)
