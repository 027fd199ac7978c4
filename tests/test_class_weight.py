"""Imbalanced targets: class weights and sample weights reach training, scores stay unweighted;
the average precision metric."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.metrics import average_precision_score, recall_score
from sklearn.utils.class_weight import compute_class_weight

from automl import AutoMLClassifier
from automl.cli import cli
from automl.data import Dataset, class_weights, load_dataset
from automl.errors import UserError
from automl.metrics import SCORERS, direction
from automl.recipe import DataConfig, load_recipe
from automl.results import ensure_reference, load_oof, references

# One fixed small network: a fit is one trial of two folds and a refit, a few seconds.
SPACE = {
    "hidden_units": [8],
    "activation": "relu",
    "batch_norm": False,
    "dropout": 0.0,
    "optimizer": "adam",
    "learning_rate": 0.2,
    "batch_size": 256,
}
MINORITY_WEIGHT = 9.0


def imbalanced(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two overlapping classes, about 1 row in 10 of class 1: unweighted, a model mostly
    predicts class 0."""
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.1).astype(int)
    return rng.normal(size=(rows, 2)) + y[:, None], y


def dataset(rows: int = 300, seed: int = 0) -> Dataset:
    x, y = imbalanced(rows, seed)
    return load_dataset(DataConfig(target="y"), pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": y}))


def test_balanced_is_scikit_learns_compute_class_weight() -> None:
    rows = dataset()
    expected = compute_class_weight("balanced", classes=np.arange(2), y=rows.target)
    np.testing.assert_allclose(class_weights(rows, "balanced"), expected)
    assert class_weights(rows, "none") is None


def test_a_mapping_names_labels_and_leaves_the_others_at_one() -> None:
    rows = dataset()
    recipe = load_recipe(
        {"name": "w", "data": {"target": "y"}, "training": {"class_weight": {1: 4}}}
    )
    assert recipe.training.class_weight == {"1": 4.0}
    np.testing.assert_allclose(class_weights(rows, recipe.training.class_weight), [1.0, 4.0])


def test_class_weights_multiply_row_weights_and_follow_the_rows() -> None:
    rows = dataset()
    sample = np.linspace(0.5, 1.5, len(rows))
    weighted = Dataset(rows.features, rows.target, rows.classes, rows.schema, weights=sample)
    weighted = weighted.weighted(np.array([1.0, 3.0]))
    np.testing.assert_allclose(weighted.weights, sample * np.where(rows.target == 1, 3.0, 1.0))
    picked = np.array([5, 2, 9])
    np.testing.assert_allclose(weighted.rows(picked).weights, weighted.weights[picked])
    assert rows.weighted(None) is rows


NOT_A_CHOICE = "expected none, balanced or a mapping of label to weight"
NOT_POSITIVE = "the weight of class '1' must be a number above 0"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("balance", f"{NOT_A_CHOICE}, got 'balance'"),
        (True, f"{NOT_A_CHOICE}, got true"),
        ({"1": 0}, f"{NOT_POSITIVE}, got 0"),
        ({"1": -2.5}, f"{NOT_POSITIVE}, got -2.5"),
        ({"1": "heavy"}, f"{NOT_POSITIVE}, got 'heavy'"),
    ],
)
def test_a_bad_class_weight_is_one_line(value: object, message: str) -> None:
    with pytest.raises(UserError) as refused:
        load_recipe({"name": "w", "data": {"target": "y"}, "training": {"class_weight": value}})
    assert str(refused.value) == f"recipe: training.class_weight: {message}"


def test_a_label_that_is_not_a_class_is_one_line() -> None:
    with pytest.raises(UserError) as refused:
        class_weights(dataset(), {"2": 3.0})
    assert str(refused.value) == (
        "training.class_weight: '2' is not a class of the target; classes: 0, 1"
    )


def test_validate_prints_the_weights_per_class(tmp_path: Path) -> None:
    x, y = imbalanced(300, 0)
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": y}).to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "recipe.yaml").write_text(
        "name: w\ndata: {train: train.csv, target: y, holdout: 0}\n"
        "training: {class_weight: balanced}\noutput: run\n"
    )
    done = CliRunner().invoke(cli, ["validate", str(tmp_path / "recipe.yaml")])
    assert done.exit_code == 0, done.output
    counts = np.bincount(y)
    expected = ", ".join(f"{c} {len(y) / (2 * n):.3g}" for c, n in enumerate(counts))
    assert f"Class weights (training.class_weight): {expected}" in done.output


def test_the_references_train_with_the_row_weights(tmp_path: Path) -> None:
    """Gradient boosting and extra trees: the minority class's out-of-fold recall rises."""
    recipe = load_recipe(
        {
            "name": "w",
            "data": {"target": "y"},
            "reference": {"enabled": True, "max_iter": 10},
            "extra_trees": {"enabled": True, "trees": 10, "min_samples_leaf": 5},
        }
    )
    rows = dataset()
    folds = list(rows.folds(2, 0))
    heavy = rows.weighted(np.array([1.0, MINORITY_WEIGHT]))
    study = optuna.create_study()
    for reference in references(recipe):
        recalls = []
        for name, table in (("plain", rows), ("weighted", heavy)):
            folder = tmp_path / f"{reference.name}-{name}"
            ensure_reference(study, table, folds, reference, "log_loss", folder)
            oof = load_oof(folder)
            assert oof is not None
            recalls.append(recall_score(rows.target, oof.argmax(axis=1)))
        assert recalls[1] > recalls[0] + 0.15, (reference.name, recalls)


def test_a_reference_named_with_class_weights_is_trained_again() -> None:
    base = {"name": "w", "data": {"target": "y"}, "reference": {"enabled": True}}
    plain = references(load_recipe(base))[0].description
    weighted = {**base, "training": {"class_weight": {"yes": 3}}}
    assert references(load_recipe(weighted))[0].description == f"{plain} class_weight=yes:3"


@pytest.fixture(scope="module")
def fits() -> dict[str, AutoMLClassifier]:
    """The same search three times: unweighted, with a class weight for the minority (scored by
    average precision), and with the same weight given per row."""
    x, y = imbalanced(300, 0)
    settings = {"search_space": SPACE, "n_trials": 1, "cv": 2, "max_epochs": 3, "patience": 3}
    return {
        "plain": AutoMLClassifier(**settings).fit(x, y),
        "class_weight": AutoMLClassifier(
            class_weight={1: MINORITY_WEIGHT}, metric="average_precision", **settings
        ).fit(x, y),
        "sample_weight": AutoMLClassifier(**settings).fit(
            x, y, sample_weight=np.where(y == 1, MINORITY_WEIGHT, 1.0)
        ),
    }


def test_a_weighted_minority_class_gets_more_recall(fits: dict[str, AutoMLClassifier]) -> None:
    x, y = imbalanced(3000, 1)
    plain = recall_score(y, fits["plain"].predict(x))
    weighted = recall_score(y, fits["class_weight"].predict(x))
    assert weighted > plain + 0.15, (plain, weighted)


def test_sample_weights_train_as_the_same_class_weights(fits: dict[str, AutoMLClassifier]) -> None:
    x, _ = imbalanced(200, 2)
    np.testing.assert_allclose(
        fits["sample_weight"].predict_proba(x), fits["class_weight"].predict_proba(x), atol=1e-5
    )


def test_bad_sample_weights_name_the_parameter() -> None:
    x, y = imbalanced(60, 0)
    for weights, fragment in [
        (np.ones(59), "inconsistent numbers of samples"),
        (np.full(60, -1.0), "sample_weight: every weight must be a finite number >= 0"),
        (np.zeros(60), "sample_weight: the weights are all zero"),
        (np.where(y == 1, 0.0, 1.0), "sample_weight: every row of class 1 weighs zero"),
    ]:
        with pytest.raises(ValueError, match=fragment):
            AutoMLClassifier(n_trials=1).fit(x, y, sample_weight=weights)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_average_precision_is_scikit_learns(n_classes: int) -> None:
    rng = np.random.default_rng(n_classes)
    y = np.arange(40) % n_classes
    proba = rng.dirichlet(np.ones(n_classes), size=40)
    if n_classes == 2:
        expected = average_precision_score(y, proba[:, 1])
    else:
        expected = average_precision_score(y, proba, average="macro")
    assert SCORERS["average_precision"](y, proba) == pytest.approx(expected)
    assert direction("average_precision") == "maximize"
    recipe = {"name": "ap", "data": {"target": "y"}, "search": {"metric": "average_precision"}}
    assert load_recipe(recipe).search.metric == "average_precision"
