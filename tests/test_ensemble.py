"""Feature transforms, stored out-of-fold predictions, ensemble selection and the reference row."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import optuna
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.model_selection import StratifiedKFold

from automl import search
from automl.cli import cli
from automl.data import FeatureSchema, fit_transform, load_dataset
from automl.errors import UserError
from automl.keras import LocalBackend, build_model
from automl.metrics import score_all
from automl.recipe import TRANSFORMS, load_recipe
from automl.results import (
    REFERENCE_ATTRS,
    Member,
    ModelBundle,
    artifact_key,
    bag_best_trial,
    candidate_name,
    choose_ensemble,
    fit_stacker,
    load_fold_models,
    references,
    select_ensemble,
    selection_oof,
    stacked_proba,
)
from automl.spec import ModelSpec
from automl.training import TrainSettings
from automl.tuning import suggest_spec

SCHEMA = FeatureSchema(("x1", "x2", "colour"), ("colour",))


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_each_transform_round_trips_in_the_bundle(transform: str, tmp_path: Path) -> None:
    from sample_tables import make_table

    table = make_table()
    features = table[["x1", "x2", "colour"]].assign(x1=lambda f: f["x1"].abs() * 10)
    preprocessor, (x,) = fit_transform(SCHEMA, features, transform=transform)
    _, (plain,) = fit_transform(SCHEMA, features)
    assert np.isfinite(x).all() and x.dtype == np.float32
    assert np.allclose(x, plain) == (transform == "none")  # every transform changes the numbers
    model = build_model(ModelSpec(hidden_units=(4,), transform=transform), x.shape[1], 3)
    bundle = ModelBundle([Member(model, preprocessor)], ("a", "b", "c"), SCHEMA)
    bundle.save(tmp_path / "best")
    loaded = ModelBundle.load(tmp_path / "best")
    rows = features.iloc[:7]
    np.testing.assert_allclose(loaded.predict_proba(rows), bundle.predict_proba(rows), atol=1e-6)


def test_the_transform_is_a_searched_dimension() -> None:
    recipe = {"name": "t", "data": {"train": "t.csv", "target": "y"}}
    space = load_recipe({**recipe, "space": {"transform": ["none", "quantile"]}}).space
    params = {"layers": 1, "units_1": 64, "activation": "relu", "initializer": "he_normal"}
    params |= {"batch_norm": False, "dropout": 0.0, "optimizer": "adam"}
    params |= {"learning_rate": 1e-3, "batch_size": 64, "transform": "quantile"}
    spec = suggest_spec(space, optuna.trial.FixedTrial(params))
    assert spec.transform == "quantile" and spec.describe().startswith("quantile 64 relu")
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(UserError, match=r"space\.transform"):
        load_recipe({**recipe, "space": {"transform": "log2"}})


def _noisy_candidates(seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 4, size=400)
    truth = np.eye(4)[target]
    candidates = []
    for noise in (0.6, 0.8, 1.0, 3.0):
        logits = truth * 2 + rng.normal(scale=noise, size=truth.shape)
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        candidates.append(proba)
    return candidates, target


@pytest.mark.parametrize("metric", ["log_loss", "accuracy"])
def test_ensemble_selection_never_worsens_the_best_candidate_and_is_deterministic(
    metric: str,
) -> None:
    candidates, target = _noisy_candidates(0)
    selection = select_ensemble(candidates, target, metric, rounds=30)
    again = select_ensemble(candidates, target, metric, rounds=30)
    assert selection == again
    assert sum(selection.weights) == pytest.approx(1.0)
    singles = [score_all(metric, target, c)[metric] for c in candidates]
    blend = sum(
        w * c.astype(np.float64) for w, c in zip(selection.weights, candidates, strict=True)
    )
    assert selection.score == pytest.approx(score_all(metric, target, blend)[metric], abs=1e-6)
    if metric == "log_loss":
        assert selection.best_single == pytest.approx(min(singles), abs=1e-6)
        assert selection.score < selection.best_single  # independent noise: averaging helps
        assert len(selection.chosen()) > 1
    else:
        assert selection.score >= max(singles)


def test_one_candidate_gets_all_the_weight() -> None:
    candidates, target = _noisy_candidates(1)
    selection = select_ensemble(candidates[:1], target, "log_loss", rounds=5)
    assert selection.weights == (1.0,) and selection.score == pytest.approx(selection.best_single)


BOOSTER_SUFFIXES = {"catboost": ".cbm", "lightgbm": ".lgbm"}  # reference: its fold models' suffix


@pytest.fixture(scope="module")
def ensembled(tmp_path_factory: pytest.TempPathFactory):
    """A tiny search whose final model is the ensemble, with the four references on the folds."""
    from sample_tables import make_table

    folder = tmp_path_factory.mktemp("ensemble")
    make_table(150).to_csv(folder / "train.csv", index=False)
    recipe = {
        "name": "ens",
        "data": {"train": str(folder / "train.csv"), "target": "label", "id": "id"},
        "search": {"trials": 3, "folds": 2, "seed": 1, "pruner": "none"},
        "space": {
            "layers": 1,
            "units": {"low": 4, "high": 16},
            "learning_rate": 0.01,
            "batch_size": 32,
            "transform": ["none", "log1p", "sqrt", "quantile"],
        },
        "training": {"max_epochs": 2, "final_model": "ensemble"},
        "ensemble": {"candidates": 2, "rounds": 10},
        "reference": {"enabled": True, "max_iter": 10},
        "extra_trees": {"enabled": True, "trees": 10},
        "catboost": {"enabled": True, "iterations": 50},
        "lightgbm": {"enabled": True, "iterations": 50, "min_samples_leaf": 5},
        "output": str(folder / "run"),
    }
    return recipe, search(recipe)


def test_the_leaderboard_shows_the_ensemble_and_the_references(ensembled) -> None:
    _, result = ensembled
    board = result.leaderboard
    states = list(board["state"])
    assert states.count("ensemble") == 1 and states.count("reference") == 4
    assert states.count("complete") == 3
    assert list(board["rank"]) == [1, 2, 3, 4, 5, 6, 7, 8]  # ranked together, best first
    assert list(board["log_loss"]) == sorted(board["log_loss"])
    ensemble = board[board["state"] == "ensemble"].iloc[0]
    references = board[board["state"] == "reference"]
    best_trial = board[board["state"] == "complete"]["log_loss"].min()
    assert ensemble["log_loss"] <= min(best_trial, references["log_loss"].min()) + 1e-9
    kinds = sorted(a.split()[0] for a in references["architecture"])
    assert kinds == ["CatBoost", "ExtraTrees", "HistGradientBoosting", "LightGBM"]
    assert pd.isna(ensemble["trial"]) and references["trial"].isna().all()
    stored = {"reference": ".skops", "extra_trees": ".skops", **BOOSTER_SUFFIXES}
    for name, suffix in stored.items():  # each reference keeps its fold models, never pickled
        assert len(list((result.run_dir / name).glob(f"fold_*{suffix}"))) == 2
    on_disk = (result.run_dir / "leaderboard.md").read_text()
    assert "| ensemble |" in on_disk and "| reference |" in on_disk


def test_the_ensemble_bundle_predicts_through_the_command_line(ensembled, tmp_path) -> None:
    _, result = ensembled
    best = result.run_dir / "best"
    manifest = json.loads((best / "bundle.json").read_text())
    assert manifest["final_model"] == "ensemble"
    assert sum(manifest["ensemble"].values()) == pytest.approx(1.0)
    weights = [entry["weight"] for entry in manifest["members"]]
    assert sum(weights) == pytest.approx(1.0) and len(weights) >= 2
    for entry in manifest["members"]:
        if entry["model"].endswith(".keras"):  # every network loads in Keras' safe mode
            keras.models.load_model(best / entry["model"], safe_mode=True, compile=False)
    _assert_the_command_line_predicts_as_the_loaded_bundle(best, tmp_path)
    assert result.holdout == pytest.approx(manifest["holdout"])


def _assert_the_command_line_predicts_as_the_loaded_bundle(best: Path, tmp_path: Path) -> None:
    from sample_tables import make_table

    rows = make_table(rows=12, seed=5)
    rows.drop(columns="label").to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "predictions.csv"
    cli_run = CliRunner().invoke(
        cli, ["predict", str(best), str(tmp_path / "new.csv"), "-o", str(out), "--proba-only"]
    )
    assert cli_run.exit_code == 0, cli_run.output
    predictions = pd.read_csv(out).drop(columns="id").to_numpy()
    expected = ModelBundle.load(best).predict_proba(rows.drop(columns=["label", "id"]))
    np.testing.assert_allclose(predictions, expected, atol=1e-6)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, atol=1e-6)


def test_a_continued_search_keeps_the_stored_predictions(ensembled) -> None:
    recipe, first = ensembled
    stored = sorted(p.name for p in (first.run_dir / "trials").iterdir())
    assert len(stored) == 2  # the ensemble's candidates; worse trials' folders are deleted
    again = search(recipe, trials=1)
    assert len(again.study.trials) == 4
    kept = sorted(p.name for p in (again.run_dir / "trials").iterdir())
    assert len(kept) == 2 and set(kept) & set(stored)
    for name in REFERENCE_ATTRS:  # kept, not trained again
        assert again.study.user_attrs[name] == first.study.user_attrs[name]


def test_switching_a_finished_run_to_stacking_rebuilds_its_bundle(ensembled, tmp_path) -> None:
    recipe, _ = ensembled
    stacked = search({**recipe, "ensemble": {**recipe["ensemble"], "method": "stack"}}, trials=1)
    best = stacked.run_dir / "best"
    manifest = json.loads((best / "bundle.json").read_text())
    assert manifest["format"] == 3 and manifest["ensemble_method"] == "stack"
    assert (best / manifest["stacker"]).is_file()
    candidates = manifest["ensemble"]  # every one: the two best trials and the references
    assert len(candidates) == 6
    assert {"reference", "extra trees", "catboost", "lightgbm"} <= set(candidates)
    assert sum(candidates.values()) == pytest.approx(1.0)
    assert sorted({entry["group"] for entry in manifest["members"]}) == [0, 1, 2, 3, 4, 5]
    for name, suffix in BOOSTER_SUFFIXES.items():  # in their libraries' own formats
        group = list(candidates).index(name)
        files = [entry["model"] for entry in manifest["members"] if entry["group"] == group]
        assert len(files) == 2 and all(file.endswith(suffix) for file in files)
    row = stacked.leaderboard[stacked.leaderboard["state"] == "ensemble"].iloc[0]
    assert row["architecture"].startswith("stacked: ")
    _assert_the_command_line_predicts_as_the_loaded_bundle(best, tmp_path)


def test_refitted_references_are_one_model_each_fitted_on_every_row(ensembled) -> None:
    recipe, _ = ensembled
    stacked = {**recipe, "ensemble": {**recipe["ensemble"], "method": "stack"}}  # every candidate
    refitting = {**stacked, "ensemble": {**stacked["ensemble"], "refit_references": True}}
    result = search(refitting, trials=1)
    manifest = json.loads((result.run_dir / "best" / "bundle.json").read_text())
    names = list(manifest["ensemble"])
    assert manifest["refitted_references"] == ["catboost", "extra trees", "lightgbm", "reference"]
    groups = [entry["group"] for entry in manifest["members"]]
    loaded = load_recipe(refitting)
    table = load_dataset(loaded.data)
    search_rows, holdout = table.split_holdout(loaded.data.holdout, loaded.search.seed)
    assert holdout is not None and manifest["refitted_rows"] == len(table)
    every_row = search_rows.joined(holdout)  # the holdout's rows after the search's
    with_fold_models = []  # the ensemble the holdout scored: the references' fold models
    for reference in references(loaded):
        group = names.index(candidate_name(reference.name))
        assert groups.count(group) == 1  # one model in place of one per fold
        member = next(m for m in result.best.members if m.group == group)
        preprocessor, (x,) = fit_transform(every_row.schema, every_row.features)
        alone = reference.fit(x, every_row.target, None)  # the holdout's rows too
        np.testing.assert_allclose(
            member.model.predict_proba(member.preprocessor.transform(holdout.features)),
            alone.predict_proba(preprocessor.transform(holdout.features)),
        )
        pairs = load_fold_models(result.run_dir / reference.name)
        with_fold_models += [Member(m, p, 1 / len(pairs), group) for m, p in pairs]
    with_fold_models += [m for m in result.best.members if names[m.group].startswith("trial")]
    scored = replace(result.best, members=with_fold_models)
    proba = scored.predict_proba(holdout.features)
    assert result.holdout is not None
    assert score_all("log_loss", holdout.target, proba)["log_loss"] == pytest.approx(
        result.holdout["log_loss"]
    )
    folds_again = search(stacked, trials=1)  # turned off: the bundle is made again, of fold models
    manifest = json.loads((folds_again.run_dir / "best" / "bundle.json").read_text())
    assert (manifest["refitted_references"], manifest["refitted_rows"]) == ([], 0)
    groups = [entry["group"] for entry in manifest["members"]]
    assert groups.count(list(manifest["ensemble"]).index("reference")) == 2


def _class_blind_candidates(seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Two candidates that each tell apart only half of the four classes."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 4, size=600)
    truth = np.eye(4)[target]
    candidates = []
    for seen in ([0, 1], [2, 3]):
        logits = rng.normal(scale=0.5, size=truth.shape)
        logits[:, seen] += 3 * truth[:, seen]
        candidates.append(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))
    return candidates, target


def test_a_stacker_learns_which_candidate_to_trust_for_each_class() -> None:
    candidates, target = _class_blind_candidates(0)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(candidates[0], target))
    stacking = fit_stacker(candidates, target, folds)
    greedy = select_ensemble(candidates, target, "log_loss", rounds=20)
    stacked = score_all("log_loss", target, stacking.oof)["log_loss"]
    assert stacked < greedy.score - 0.1  # one weight per candidate cannot do this
    assert sum(stacking.shares) == pytest.approx(1.0) and min(stacking.shares) > 0.2
    np.testing.assert_allclose(stacking.oof.sum(axis=1), 1.0)


def test_greedy_selection_out_of_fold_chooses_without_the_rows_it_scores() -> None:
    candidates, target = _noisy_candidates(0)
    folds = list(StratifiedKFold(4, shuffle=True, random_state=0).split(candidates[0], target))
    oof = selection_oof(candidates, target, folds, "log_loss", rounds=30)
    for train_rows, valid_rows in folds:  # each fold's rows blended by weights chosen without them
        weights = select_ensemble(
            [c[train_rows] for c in candidates], target[train_rows], "log_loss", rounds=30
        ).weights
        blend = sum(w * c[valid_rows] for w, c in zip(weights, candidates, strict=True))
        np.testing.assert_allclose(oof[valid_rows], blend / blend.sum(axis=1, keepdims=True))
    in_sample = select_ensemble(candidates, target, "log_loss", rounds=30).score
    assert score_all("log_loss", target, oof)["log_loss"] > in_sample  # no reward for fitting


def test_auto_keeps_the_stacker_or_greedy_weights_whichever_scores_better_out_of_fold(
    ensembled,
) -> None:
    recipe, result = ensembled
    loaded = load_recipe(recipe)
    rows, _ = load_dataset(loaded.data).split_holdout(loaded.data.holdout, loaded.search.seed)
    folds = list(rows.folds(2, loaded.search.seed))
    references = {name: result.run_dir / name for name in REFERENCE_ATTRS}

    def chosen(method: str):
        config = loaded.ensemble.model_copy(update={"method": method})
        args = (result.study, rows, folds, result.run_dir / "trials", config, "log_loss")
        return choose_ensemble(*args, references)

    stack, auto = chosen("stack"), chosen("auto")
    candidates = [np.load(seeds[0] / "oof.npy") for seeds in stack.folders.values()]
    measured = selection_oof(candidates, rows.target, folds, "log_loss", loaded.ensemble.rounds)
    greedy = score_all("log_loss", rows.target, measured)["log_loss"]
    better = "stack" if stack.scores["log_loss"] <= greedy else "greedy"
    assert auto.method == better
    assert auto.scores["log_loss"] == pytest.approx(min(stack.scores["log_loss"], greedy))
    assert chosen("greedy").scores["log_loss"] <= greedy  # greedy alone: scored where it chose


def test_a_stacked_bundle_round_trips_and_a_newer_format_is_refused(tmp_path: Path) -> None:
    from sample_tables import make_table

    features = make_table()[["x1", "x2", "colour"]]
    preprocessor, (x,) = fit_transform(SCHEMA, features)
    members = [
        Member(build_model(ModelSpec(hidden_units=(units,)), x.shape[1], 3), preprocessor, 0.5, g)
        for g, units in enumerate((4, 8))
        for _ in range(2)
    ]
    probas = [ModelBundle(members[2 * g : 2 * g + 2], ("a", "b", "c"), SCHEMA) for g in (0, 1)]
    probas = [bundle.predict_proba(features) for bundle in probas]
    target = np.arange(len(features)) % 3
    stacker = fit_stacker(probas, target, [(np.arange(0, 60), np.arange(60, 80))]).stacker
    bundle = ModelBundle(members, ("a", "b", "c"), SCHEMA, stacker=stacker)
    np.testing.assert_allclose(bundle.predict_proba(features), stacked_proba(stacker, probas, 3))
    bundle.save(tmp_path / "best")
    loaded = ModelBundle.load(tmp_path / "best")
    np.testing.assert_allclose(
        loaded.predict_proba(features), bundle.predict_proba(features), atol=1e-6
    )
    manifest = json.loads((tmp_path / "best" / "bundle.json").read_text())
    (tmp_path / "best" / "bundle.json").write_text(json.dumps({**manifest, "format": 4}))
    with pytest.raises(UserError, match="format 4 needs a newer automl"):
        ModelBundle.load(tmp_path / "best")


def test_the_best_trial_bagged_over_seeds_joins_the_stacker_as_the_mean_of_its_seeds(
    ensembled, tmp_path: Path
) -> None:
    recipe, _ = ensembled
    ensemble = {**recipe["ensemble"], "method": "stack", "seeds": 3}
    result = search({**recipe, "ensemble": ensemble, "output": str(tmp_path / "run")}, trials=2)
    best = result.study.best_trial
    key = artifact_key(ModelSpec.from_dict(best.user_attrs["spec"]).to_json())
    folder = result.run_dir / "trials" / key
    seeds = [folder, folder / "seed_1", folder / "seed_2"]
    oofs = [np.load(seed / "oof.npy") for seed in seeds]
    assert not np.allclose(oofs[0], oofs[1]) and not np.allclose(oofs[1], oofs[2])
    manifest = json.loads((result.run_dir / "best" / "bundle.json").read_text())
    names = list(manifest["ensemble"])
    bagged = names.index(f"trial {best.number} (3 seeds)")
    groups = [entry["group"] for entry in manifest["members"]]
    assert groups.count(bagged) == 3 * 2  # every seed's fold models: 3 seeds of 2 folds
    # run.json times the bagging apart: a continued run reads the final model's seconds back
    # as its reserve, and stored seeds are not trained again
    seconds = json.loads((result.run_dir / "run.json").read_text())["seconds"]
    assert seconds["bagging"] > 0 and seconds["final_model"] > 0

    # the stacker's out-of-fold score is the one of the seeds' mean beside the other candidates
    loaded = load_recipe(recipe)
    rows, _ = load_dataset(loaded.data).split_holdout(loaded.data.holdout, loaded.search.seed)
    folds = list(rows.folds(2, loaded.search.seed))
    candidates = []
    for name in names:
        if name.startswith("trial"):
            trial = result.study.trials[int(name.split()[1])]
            spec = ModelSpec.from_dict(trial.user_attrs["spec"])
            candidates.append(result.run_dir / "trials" / artifact_key(spec.to_json()))
        else:
            candidates.append(result.run_dir / name.replace(" ", "_"))
    stored = [np.load(c / "oof.npy").astype(np.float64) for c in candidates]
    stored[bagged] = np.mean(oofs, axis=0, dtype=np.float64)
    stacking = fit_stacker(stored, rows.target, folds)
    expected = score_all("log_loss", rows.target, stacking.oof)["log_loss"]
    assert result.study.user_attrs["ensemble"]["log_loss"] == pytest.approx(expected, rel=1e-6)

    # a seed starts only with the best trial's seconds left; the ones stored are not trained again
    settings = TrainSettings(max_epochs=2, patience=5, seed=loaded.search.seed)
    started = time.monotonic()
    have = bag_best_trial(
        result.study, rows, folds, result.run_dir / "trials", LocalBackend(), settings,
        "log_loss", seeds=5, stop_at=lambda: started,
    )  # fmt: skip
    assert have == 3 and not (folder / "seed_3").exists()
    np.testing.assert_array_equal(np.load(folder / "seed_2" / "oof.npy"), oofs[2])
