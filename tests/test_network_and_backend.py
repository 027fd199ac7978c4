"""The network builder and the local backend, with real (tiny) Keras models."""

from __future__ import annotations

import numpy as np
import pytest
from sample_tables import blobs
from sklearn.metrics import log_loss

from automl.errors import TrialFailed
from automl.keras import LocalBackend, build_model
from automl.recipe import ACTIVATIONS, INITIALIZERS, OPTIMIZERS
from automl.spec import ModelSpec
from automl.training import FoldData, TrainSettings


def test_the_lecture_network_has_the_lecture_parameter_count() -> None:
    model = build_model(ModelSpec(hidden_units=(200, 50)), n_features=93, n_classes=9)
    assert model.count_params() == (93 * 200 + 200) + (200 * 50 + 50) + (50 * 9 + 9)
    assert model.output_shape == (None, 9)


def test_batch_normalization_replaces_the_dense_bias() -> None:
    model = build_model(ModelSpec(hidden_units=(8,), batch_norm=True), n_features=3, n_classes=2)
    assert [type(layer).__name__ for layer in model.layers[1:3]] == ["Dense", "BatchNormalization"]
    assert model.layers[1].use_bias is False


def test_input_dropout_drops_features_in_training_only() -> None:
    model = build_model(ModelSpec(hidden_units=(4,), input_dropout=0.5), 200, 2)
    first = model.layers[1]
    assert type(first).__name__ == "Dropout" and first.rate == 0.5
    assert model.layers[2].name.startswith("dense")
    features = np.ones((1, 200), dtype="float32")
    dropped = np.asarray(first(features, training=True))
    assert 0 < (dropped == 0).sum() < 200
    assert np.array_equal(np.asarray(first(features, training=False)), features)
    plain = build_model(ModelSpec(hidden_units=(4,)), 200, 2)
    assert not any(type(layer).__name__ == "Dropout" for layer in plain.layers)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_builds(activation: str) -> None:
    assert build_model(ModelSpec(hidden_units=(4,), activation=activation), 3, 2).built


@pytest.mark.parametrize("initializer", INITIALIZERS)
def test_every_initializer_builds(initializer: str) -> None:
    assert build_model(ModelSpec(hidden_units=(4,), initializer=initializer), 3, 2).built


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_compiles(optimizer: str) -> None:
    model = build_model(ModelSpec(hidden_units=(4,), optimizer=optimizer), 3, 2)
    assert type(model.optimizer).__name__.lower() == optimizer
    if optimizer == "sgd":
        assert model.optimizer.momentum == 0.9 and model.optimizer.nesterov


def test_restored_best_epoch_matches_the_validation_probabilities() -> None:
    data = blobs()
    spec = ModelSpec(hidden_units=(8,), learning_rate=0.05, batch_size=16)
    result = LocalBackend().evaluate(spec, data, TrainSettings(max_epochs=6, patience=6))
    assert result.epochs_run == 6 == len(result.history["val_loss"])
    assert set(result.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    best = result.history["val_loss"][result.best_epoch - 1]
    assert best == min(result.history["val_loss"])
    assert log_loss(data.y_valid, result.valid_proba, labels=[0, 1, 2]) == pytest.approx(
        best, abs=1e-4
    )
    assert result.valid_proba.shape == (len(data.y_valid), 3)
    assert result.n_params == 4 * 8 + 8 + 8 * 3 + 3


def test_early_stopping_is_honoured() -> None:
    settings = TrainSettings(max_epochs=30, patience=2, min_delta=100.0)
    result = LocalBackend().evaluate(ModelSpec(hidden_units=(4,)), blobs(), settings)
    assert result.epochs_run == 3
    assert result.best_epoch == 1


def test_a_seed_makes_training_repeatable() -> None:
    settings = TrainSettings(max_epochs=2, seed=7)
    spec = ModelSpec(hidden_units=(4,), dropout=0.2)
    first = LocalBackend().evaluate(spec, blobs(), settings)
    second = LocalBackend().evaluate(spec, blobs(), settings)
    assert first.history["loss"] == second.history["loss"]


def test_nan_loss_fails_the_trial_with_a_reason() -> None:
    data = blobs()
    huge = FoldData(data.x_train * 1e30, data.y_train, data.x_valid, data.y_valid, 3)
    spec = ModelSpec(hidden_units=(4,), optimizer="sgd", learning_rate=1e6)
    with pytest.raises(TrialFailed, match="NaN"):
        LocalBackend().evaluate(spec, huge, TrainSettings(max_epochs=5))


def test_final_fit_trains_exactly_the_given_epochs() -> None:
    data = blobs()
    model = LocalBackend().fit(
        ModelSpec(hidden_units=(4,)), data.x_train, data.y_train, 3, TrainSettings(max_epochs=50), 2
    )
    assert model.optimizer.iterations.numpy() == 2 * int(np.ceil(len(data.y_train) / 128))


@pytest.mark.parametrize(("rows", "eager"), [(120, True), (3000, False)])
def test_tiny_fits_run_eagerly_and_larger_ones_are_traced(rows: int, eager: bool) -> None:
    data = blobs(rows=rows)
    spec = ModelSpec(hidden_units=(8,), learning_rate=0.05, batch_size=16)
    result = LocalBackend().evaluate(spec, data, TrainSettings(max_epochs=2, patience=2))
    assert result.model.run_eagerly is eager
    best = result.history["val_loss"][result.best_epoch - 1]
    kept = log_loss(data.y_valid, result.valid_proba, labels=[0, 1, 2])
    assert kept == pytest.approx(best, abs=1e-4)
