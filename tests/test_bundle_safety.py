"""Bundle format 3: loading runs none of the bundle's code, digests catch a changed file, equal
preprocessors are stored once, and `automl bundle upgrade` converts an old pickled bundle."""

from __future__ import annotations

import io
import json
import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import keras
import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier

from automl._files import sha256_of
from automl.cli import cli
from automl.data import FeatureSchema, fit_transform
from automl.errors import UserError
from automl.keras import LocalBackend, build_model
from automl.recipe import ACTIVATIONS, INITIALIZERS, TRANSFORMS
from automl.results import (
    Member,
    ModelBundle,
    fit_stacker,
    load_fold_models,
    pack_fold,
    save_fold_models,
    verify_bundle,
)
from automl.results._booster_storage import LightGBMModel
from automl.results._keras_check import check_keras_file
from automl.results._sklearn_storage import load_sklearn, save_sklearn
from automl.spec import ModelSpec
from automl.training import TrainSettings

SCHEMA = FeatureSchema(("x1", "x2", "colour"), ("colour",))
CLASSES = ("Class_1", "Class_2", "Class_10")


@pytest.fixture(scope="module")
def table():
    from sample_tables import make_table

    return make_table()


@pytest.fixture(scope="module")
def target(table) -> np.ndarray:
    return table["label"].map({c: i for i, c in enumerate(CLASSES)}).to_numpy()


@pytest.fixture(scope="module")
def stacked(table, target) -> ModelBundle:
    """Two Keras members sharing one preprocessor (group 0), a gradient boosting member with a
    log1p preprocessor (group 1), and a stacker over the two groups."""
    features = table[list(SCHEMA.columns)]
    plain, (x,) = fit_transform(SCHEMA, features)
    again, _ = fit_transform(SCHEMA, features)  # fitted on the same rows: equal to `plain`
    logged, (x_log,) = fit_transform(SCHEMA, features, transform="log1p")
    backend = LocalBackend()
    networks = [
        backend.fit(ModelSpec(hidden_units=(units,)), x, target, 3, TrainSettings(1), 1)
        for units in (4, 6)
    ]
    boosting = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(x_log, target)
    members = [
        Member(networks[0], plain, 0.5, 0),
        Member(networks[1], again, 0.5, 0),
        Member(boosting, logged, 1.0, 1),
    ]
    bundle = ModelBundle(members, CLASSES, SCHEMA, "id", {"trial": 0, "target": "label"})
    folds = [(np.arange(len(x)) % 2 == k, np.arange(len(x)) % 2 != k) for k in (0, 1)]
    folds = [(np.flatnonzero(a), np.flatnonzero(b)) for a, b in folds]
    groups = [bundle.predict_proba(features)] * 2  # any two probability matrices will do
    bundle.stacker = fit_stacker(groups, target, folds).stacker
    return bundle


@pytest.fixture
def saved(stacked, tmp_path: Path) -> Path:
    stacked.save(tmp_path / "best")
    return tmp_path / "best"


def test_a_stacked_bundle_predicts_the_same_after_loading(stacked, saved, table) -> None:
    loaded = ModelBundle.load(saved)
    rows = table[list(SCHEMA.columns)]
    np.testing.assert_allclose(loaded.predict_proba(rows), stacked.predict_proba(rows), atol=1e-7)
    assert loaded.info == stacked.info


def test_equal_preprocessors_are_stored_once(saved) -> None:
    manifest = json.loads((saved / "bundle.json").read_text())
    assert manifest["format"] == 3
    assert [m["preprocessor"] for m in manifest["members"]] == [
        "preprocessor_1.skops",
        "preprocessor_1.skops",
        "preprocessor_2.skops",
    ]
    assert sorted(manifest["files"]) == sorted(
        p.name for p in saved.iterdir() if p.name != "bundle.json"
    )
    assert not list(saved.glob("*.joblib"))


def test_every_trusted_kind_of_scikit_learn_object_round_trips(table, target, tmp_path) -> None:
    features = table[list(SCHEMA.columns)]
    objects = [fit_transform(SCHEMA, features, transform=t)[0] for t in TRANSFORMS]
    x = objects[0].transform(features)
    objects += [
        HistGradientBoostingClassifier(max_iter=3, early_stopping=True).fit(x, target),
        ExtraTreesClassifier(n_estimators=3, random_state=0).fit(x, target),
        ExtraTreesClassifier(n_estimators=3, random_state=0).fit(x, target == 1),
    ]
    for index, fitted in enumerate(objects):
        save_sklearn(fitted, tmp_path / f"{index}.skops")
        loaded = load_sklearn(tmp_path / f"{index}.skops")
        method = "predict_proba" if hasattr(fitted, "predict_proba") else "transform"
        np.testing.assert_array_equal(
            getattr(loaded, method)(x if index >= 4 else features),
            getattr(fitted, method)(x if index >= 4 else features),
        )


def test_every_network_the_space_builds_passes_the_keras_check(tmp_path: Path) -> None:
    specs = [ModelSpec(hidden_units=(3,), activation=a) for a in ACTIVATIONS]
    specs += [ModelSpec(hidden_units=(3,), initializer=i) for i in INITIALIZERS]
    specs += [ModelSpec(hidden_units=(3, 3), batch_norm=True, dropout=0.2, input_dropout=0.1)]
    specs += [ModelSpec(hidden_units=(3,), optimizer=o) for o in ("sgd", "adamw", "nadam")]
    for index, spec in enumerate(specs):
        path = tmp_path / f"{index}.keras"
        build_model(spec, 4, 3).save(path)
        check_keras_file(path)


def _rewrite_zip(path: Path, name: str, change) -> None:
    with zipfile.ZipFile(path) as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    entries[name] = change(entries[name])
    with zipfile.ZipFile(path, "w") as archive:
        for n, data in entries.items():
            archive.writestr(n, data)


def _record_digest(folder: Path, name: str) -> None:
    manifest = json.loads((folder / "bundle.json").read_text())
    manifest["files"][name] = sha256_of(folder / name)
    (folder / "bundle.json").write_text(json.dumps(manifest))


@pytest.fixture
def calls_to_system(monkeypatch) -> list[str]:
    """Every call of os.system (there must be none), recorded instead of run."""
    calls: list[str] = []
    monkeypatch.setattr(os, "system", lambda command: calls.append(command) or 0)
    return calls


def _call_os_system(node):
    """A skops schema whose signed_log1p function node names os.system instead."""
    if isinstance(node, dict):
        if node.get("__class__") == "signed_log1p":
            node = {**node, "__module__": "os", "__class__": "system"}
        return {key: _call_os_system(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_call_os_system(value) for value in node]
    return node


def test_a_skops_file_naming_os_system_is_refused(saved, calls_to_system) -> None:
    crafted = saved / "preprocessor_2.skops"
    _rewrite_zip(
        crafted,
        "schema.json",
        lambda data: json.dumps(_call_os_system(json.loads(data))).encode(),
    )
    schema = zipfile.ZipFile(crafted).read("schema.json")
    assert b'"__class__": "system", "__module__": "os"' in schema
    _record_digest(saved, crafted.name)
    with pytest.raises(UserError, match=r"preprocessor_2.skops: refusing to load type os.system"):
        ModelBundle.load(saved)
    with pytest.raises(UserError, match=r"refusing to load type os.system"):
        load_sklearn(crafted)
    assert calls_to_system == []


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo unpickled",))


def _pickled_payload() -> bytes:
    """A joblib file that calls os.system as it loads (made before the fixture records calls)."""
    buffer = io.BytesIO()
    joblib.dump(_Payload(), buffer)
    return buffer.getvalue()


PAYLOAD = _pickled_payload()


def test_a_pickle_posing_as_a_part_is_refused(saved, calls_to_system) -> None:
    (saved / "preprocessor_1.skops").write_bytes(PAYLOAD)
    _record_digest(saved, "preprocessor_1.skops")
    with pytest.raises(UserError, match=r"preprocessor_1.skops: not a skops file"):
        ModelBundle.load(saved)
    assert calls_to_system == []


def test_an_old_pickled_bundle_is_refused_with_the_upgrade_command(saved, calls_to_system) -> None:
    (saved / "preprocessor.joblib").write_bytes(PAYLOAD)
    manifest = json.loads((saved / "bundle.json").read_text())
    manifest["format"] = 2
    (saved / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError) as refused:
        ModelBundle.load(saved)
    assert "bundle format 2 holds pickles" in str(refused.value)
    assert f"automl bundle upgrade {saved} -o NEW_FOLDER" in str(refused.value)
    assert calls_to_system == []


def test_a_lambda_model_is_refused_before_keras_reads_it(saved, monkeypatch) -> None:
    inputs = keras.Input(shape=(5,))
    keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs)).save(saved / "model_1.keras")
    _record_digest(saved, "model_1.keras")
    opened: list[Path] = []
    monkeypatch.setattr(keras.models, "load_model", lambda path, **_: opened.append(path))
    with pytest.raises(UserError, match=r"model_1.keras: refusing to load class 'Lambda'"):
        ModelBundle.load(saved)
    assert opened == []


def _catboost_member(x: np.ndarray, target: np.ndarray) -> Any:
    from catboost import CatBoostClassifier

    return CatBoostClassifier(iterations=5, verbose=0, allow_writing_files=False).fit(x, target)


def _lightgbm_member(x: np.ndarray, target: np.ndarray) -> Any:
    import lightgbm

    parameters = {"objective": "multiclass", "num_class": len(CLASSES), "verbose": -1}
    return LightGBMModel(lightgbm.train(parameters, lightgbm.Dataset(x, target), 5))


# library: (a fitted member, its file's suffix, how that file begins, the package that reads it)
BOOSTERS: dict[str, tuple[Callable[[np.ndarray, np.ndarray], Any], str, bytes, str]] = {
    "CatBoost": (_catboost_member, ".cbm", b"CBM1", "catboost"),
    "LightGBM": (_lightgbm_member, ".lgbm", b"tree\nversion=", "lightgbm"),
}


@pytest.fixture(params=sorted(BOOSTERS))
def with_booster(request, table, target, tmp_path: Path) -> tuple[str, ModelBundle, Path]:
    """A bundle of a CatBoost or LightGBM member and a gradient boosting one, saved; the
    library's name."""
    library = request.param
    features = table[list(SCHEMA.columns)]
    preprocessor, (x,) = fit_transform(SCHEMA, features)
    boosting = HistGradientBoostingClassifier(max_iter=5, random_state=0)
    members = [
        Member(BOOSTERS[library][0](x, target), preprocessor, 0.5, 0),
        Member(boosting.fit(x, target), preprocessor, 0.5, 0),
    ]
    bundle = ModelBundle(members, CLASSES, SCHEMA, "id", {"trial": 0, "target": "label"})
    bundle.save(tmp_path / "best")
    return library, bundle, tmp_path / "best"


def test_a_booster_member_round_trips_in_its_librarys_own_format(with_booster, table) -> None:
    library, bundle, saved = with_booster
    _, suffix, header, _ = BOOSTERS[library]
    manifest = json.loads((saved / "bundle.json").read_text())
    assert [m["model"] for m in manifest["members"]] == [f"model_1{suffix}", "model_2.skops"]
    assert (saved / f"model_1{suffix}").read_bytes().startswith(header)
    rows = table[list(SCHEMA.columns)]
    loaded = ModelBundle.load(saved)
    np.testing.assert_allclose(loaded.predict_proba(rows), bundle.predict_proba(rows))
    loaded.trace()  # as a server does before it warms up: one thread per member
    np.testing.assert_allclose(loaded.predict_proba(rows[:1]), bundle.predict_proba(rows[:1]))


def test_a_pickle_posing_as_a_booster_model_is_refused(with_booster, calls_to_system) -> None:
    library, _, saved = with_booster
    name = f"model_1{BOOSTERS[library][1]}"
    (saved / name).write_bytes(PAYLOAD)
    _record_digest(saved, name)
    with pytest.raises(UserError, match=rf"{name}: not a {library} model automl wrote"):
        verify_bundle(saved)
    assert calls_to_system == []


def test_a_booster_bundle_needs_its_package_to_load(with_booster, monkeypatch) -> None:
    library, _, saved = with_booster
    _, suffix, _, package = BOOSTERS[library]
    monkeypatch.setitem(sys.modules, package, None)  # as on a machine without it
    verify_bundle(saved)  # the bundle is sound: only the package is missing
    with pytest.raises(
        UserError, match=rf"model_1{suffix}: a {library} model needs the {package} package"
    ):
        ModelBundle.load(saved)


def test_a_changed_or_swapped_file_is_reported_in_one_line(saved) -> None:
    with open(saved / "model_2.keras", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(UserError) as changed:
        verify_bundle(saved)
    assert str(changed.value) == (
        f"{saved}: damaged model bundle: model_2.keras does not match the sha256 in bundle.json "
        "(changed or replaced after it was written)"
    )
    (saved / "model_2.keras").unlink()
    with pytest.raises(UserError, match=r"model_2\.keras is missing"):
        verify_bundle(saved)


def test_upgrade_converts_an_old_bundle_that_predicts_the_same(stacked, table, tmp_path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    member = stacked.members[0]
    member.model.save(old / "model.keras")
    joblib.dump(member.preprocessor, old / "preprocessor.joblib")
    entry = {"model": "model.keras", "preprocessor": "preprocessor.joblib", "weight": 1.0}
    manifest = {"format": 1, "classes": list(CLASSES), "schema": SCHEMA.to_dict()}
    manifest |= {"id_column": "id", "members": [entry], "trial": 3}
    (old / "bundle.json").write_text(json.dumps(manifest))
    rows = table[list(SCHEMA.columns)]

    runner = CliRunner()
    refused = runner.invoke(cli, ["predict", str(old), str(tmp_path / "missing.csv")])
    assert refused.exit_code == 2 and "automl bundle upgrade" in refused.output

    done = runner.invoke(cli, ["bundle", "upgrade", str(old), "-o", str(tmp_path / "new")])
    assert done.exit_code == 0, done.output
    assert "format-3 bundle" in done.output
    upgraded = ModelBundle.load(tmp_path / "new")
    single = ModelBundle([Member(member.model, member.preprocessor)], CLASSES, SCHEMA, "id")
    np.testing.assert_allclose(upgraded.predict_proba(rows), single.predict_proba(rows), atol=1e-7)
    assert upgraded.info["trial"] == 3
    assert json.loads((old / "bundle.json").read_text())["format"] == 1  # the source is kept

    again = runner.invoke(cli, ["bundle", "upgrade", str(tmp_path / "new")])
    assert again.exit_code == 2 and "needs no upgrade" in again.output


def test_a_packed_fold_is_written_unopened_and_loads_as_the_models_it_packed(
    stacked, table, tmp_path
) -> None:
    network, boosting = stacked.members[0], stacked.members[2]
    folds = [pack_fold(m.model, m.preprocessor) for m in (network, boosting)]
    oof = np.zeros((len(table), len(CLASSES)), dtype=np.float32)
    save_fold_models(tmp_path / "trial", oof, folds)
    assert sorted(p.name for p in (tmp_path / "trial").iterdir()) == [
        "fold_1.keras", "fold_2.skops", "oof.npy", "preprocessor_1.skops", "preprocessor_2.skops"
    ]  # fmt: skip
    loaded = load_fold_models(tmp_path / "trial")
    rows = table[list(SCHEMA.columns)]
    for (model, preprocessor), member in zip(loaded, (network, boosting), strict=True):
        again = ModelBundle([Member(model, preprocessor)], CLASSES, SCHEMA)
        alone = ModelBundle([Member(member.model, member.preprocessor)], CLASSES, SCHEMA)
        np.testing.assert_allclose(again.predict_proba(rows), alone.predict_proba(rows), atol=1e-7)


def test_a_packed_fold_with_another_member_is_refused_and_nothing_is_written(
    stacked, tmp_path
) -> None:
    packed = pack_fold(stacked.members[0].model, stacked.members[0].preprocessor)
    buffer = io.BytesIO(packed)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("../payload.pkl", PAYLOAD)
    with pytest.raises(ValueError, match=r"a packed fold holds \['\.\./payload\.pkl', "):
        save_fold_models(tmp_path / "trial", np.zeros((2, 3)), [buffer.getvalue()])
    assert not (tmp_path / "trial").exists() and list(tmp_path.iterdir()) == []
