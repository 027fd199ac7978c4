"""Data loading, class order, splits and metrics; the Otto file where it is present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from automl import search
from automl._text import natural_key
from automl.data import load_dataset
from automl.metrics import COUNTED_METRICS, SCORERS, ScoreCounts, direction, score_all
from automl.recipe import METRICS, load_recipe


def test_classes_sort_naturally() -> None:
    labels = ["Class_10", "Class_2", "Class_1", "b", "a"]
    assert sorted(labels, key=natural_key) == ["Class_1", "Class_2", "Class_10", "a", "b"]
    assert sorted([10, 2, 1], key=natural_key) == [1, 2, 10]
    assert sorted(np.array([1, -1, 10]), key=natural_key) == [-1, 1, 10]
    assert sorted(np.array([1.5, 1.25]), key=natural_key) == [1.25, 1.5]


def test_the_dataset_splits_target_id_and_schema(recipe_dict: dict) -> None:
    dataset = load_dataset(load_recipe(recipe_dict).data)
    assert dataset.classes == ("Class_1", "Class_2", "Class_10")
    assert dataset.schema.columns == ("x1", "x2", "colour")
    assert dataset.schema.categorical == ("colour",)
    assert list(dataset.ids[:2]) == [1000, 1001]
    assert np.bincount(dataset.target).tolist() == [30, 30, 30]


def test_holdout_and_folds_are_stratified_and_disjoint(recipe_dict: dict) -> None:
    dataset = load_dataset(load_recipe(recipe_dict).data)
    search_rows, holdout = dataset.split_holdout(0.2, seed=0)
    assert len(holdout) == 18 and np.bincount(holdout.target).tolist() == [6, 6, 6]
    assert not set(search_rows.ids) & set(holdout.ids)
    for train, valid in search_rows.folds(3, seed=0):
        assert not set(train) & set(valid)
        assert np.bincount(search_rows.target[valid]).tolist() == [8, 8, 8]


@pytest.mark.parametrize("metric", METRICS)
def test_every_metric_rewards_the_right_answer(metric: str) -> None:
    y = np.array([0, 1, 2, 1, 0, 2])
    good = np.eye(3)[y] * 0.8 + 0.2 / 3
    poor = np.full((6, 3), 1 / 3) + np.eye(3)[(y + 1) % 3] * 0.01
    poor /= poor.sum(axis=1, keepdims=True)
    better = SCORERS[metric](y, good), SCORERS[metric](y, poor)
    assert better[0] < better[1] if direction(metric) == "minimize" else better[0] > better[1]


def test_binary_roc_auc_and_the_scores_every_board_shows() -> None:
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])
    scores = score_all("roc_auc", y, proba)
    assert list(scores) == ["roc_auc", "log_loss", "accuracy"]
    assert scores["roc_auc"] == 0.75 and scores["accuracy"] == 0.75


@pytest.mark.parametrize("metric", COUNTED_METRICS)
def test_counts_score_as_the_predictions_they_stand_for(metric: str) -> None:
    """Confusion counts and log-loss sums from two places add up to the scores of all the rows,
    with a class never true and predictions that are certain and wrong (clipped as sklearn
    clips)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)  # class 3 is never the true one
    proba = rng.dirichlet(np.ones(4), 400)
    proba[:5] = np.eye(4)[(y[:5] + 1) % 4]  # certain and wrong: a zero probability
    eps = np.finfo(np.float64).eps

    def counts(rows: slice) -> ScoreCounts:
        pairs = y[rows] * 4 + proba[rows].argmax(axis=1)
        confusion = np.bincount(pairs, minlength=16).reshape(4, 4)
        picked = np.clip(proba[rows][np.arange(len(pairs)), y[rows]], eps, 1.0)
        return ScoreCounts(confusion, float(-np.log(picked).sum()))

    both = counts(slice(0, 150)) + counts(slice(150, None))
    expected = score_all(metric, y, proba)
    assert both.rows == 400
    assert both.scores(metric) == pytest.approx(expected, rel=1e-9)


def test_counts_refuse_what_needs_every_probability() -> None:
    counts = ScoreCounts(np.eye(2, dtype=np.int64), 0.5)
    with pytest.raises(ValueError, match="roc_auc needs every row's probabilities"):
        counts.scores("roc_auc")
    with pytest.raises(ValueError, match="no rows were scored"):
        ScoreCounts(np.zeros((2, 2), dtype=np.int64), 0.0).scores("accuracy")


def test_the_otto_file_loads_in_the_kaggle_layout(otto_path: Path) -> None:
    recipe = load_recipe(
        {"name": "otto", "data": {"train": str(otto_path), "target": "target", "id": "id"}}
    )
    dataset = load_dataset(recipe.data)
    assert len(dataset) == 61878
    assert dataset.classes == tuple(f"Class_{i}" for i in range(1, 10))
    assert dataset.schema.columns == tuple(f"feat_{i}" for i in range(1, 94))
    assert not dataset.schema.categorical
    assert np.bincount(dataset.target)[1] == 16122


@pytest.mark.slow
def test_a_short_search_on_otto(otto_path: Path, tmp_path: Path) -> None:
    result = search(
        {
            "name": "otto-smoke",
            "data": {"train": str(otto_path), "target": "target", "id": "id"},
            "search": {"trials": 2, "folds": 2, "pruner": "none"},
            "space": {
                "hidden_units": [64],
                "learning_rate": {"low": 1e-3, "high": 3e-3},
                "batch_size": 1000,
                "batch_norm": False,
                "dropout": 0.0,
            },
            "training": {"max_epochs": 3},
            "output": str(tmp_path / "run"),
        }
    )
    assert list(result.leaderboard["state"]) == ["complete", "complete"]
    assert result.holdout["log_loss"] < 0.8
    assert result.holdout["accuracy"] > 0.7
