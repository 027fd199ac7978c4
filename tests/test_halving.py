"""Successive halving over the epochs of a trial's first fold: the rule, and a real search."""

from __future__ import annotations

import re
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from automl import search
from automl.recipe import HalvingConfig
from automl.run import RunFolder
from automl.tuning import EpochHalving, record


def test_the_rungs_grow_by_the_reduction_from_the_first() -> None:
    halving = EpochHalving(first_rung=3, reduction=3, min_trials=5)
    assert [epoch for epoch in range(1, 100) if halving.is_rung(epoch)] == [3, 9, 27, 81]
    assert EpochHalving.from_recipe(HalvingConfig(enabled=False)) is None
    assert EpochHalving.from_recipe(HalvingConfig(first_rung=2)) == EpochHalving(2, 3, 5)


def test_a_trial_goes_on_while_it_ranks_among_the_best_share_of_its_rung() -> None:
    halving = EpochHalving(first_rung=1, reduction=3, min_trials=3)
    assert halving.verdict(1, 9.0, [0.1, 0.2]) is None  # too few others to judge
    # 6 trials at the rung, the best ceil(6 / 3) = 2 go on
    assert halving.verdict(1, 0.15, [0.1, 0.2, 0.3, 0.4, 0.5]) is None
    reason = halving.verdict(1, 0.25, [0.1, 0.2, 0.3, 0.4, 0.5])
    assert reason == (
        "pruned at epoch 1 of fold 1: validation loss 0.25 ranked 3 of 6 trials there, "
        "the best 2 go on (search.halving)"
    )
    assert halving.verdict(1, 0.2, [0.1, 0.2, 0.3]) is None  # a tie ranks with the better
    assert "is nan" in (halving.verdict(1, float("nan"), [0.1, 0.2, 0.3]) or "")


@pytest.mark.parametrize("enabled", [True, False])
def test_a_hopeless_trial_stops_at_a_rung_of_its_first_fold(recipe_dict, enabled) -> None:
    recipe_dict["search"].update(
        trials=3,
        halving={"enabled": enabled, "first_rung": 1, "reduction": 2, "min_trials": 2},
    )
    recipe_dict["space"].update(layers=1, units=16, activation="relu", learning_rate=[0.05, 1e-7])
    recipe_dict["training"].update(max_epochs=3, early_stopping={"patience": 3})
    run_dir = Path(recipe_dict["output"])
    run_dir.mkdir(parents=True)
    study = optuna.create_study(study_name="tiny", storage=RunFolder(run_dir).default_storage)
    for rate in (0.05, 0.05, 1e-7):  # two networks that learn, then one that cannot
        study.enqueue_trial({"learning_rate": rate})

    trials = search(recipe_dict).study.trials

    assert [t.params["learning_rate"] for t in trials] == [0.05, 0.05, 1e-7]
    learners, hopeless = trials[:2], trials[2]
    for trial in learners:
        assert trial.state == TrialState.COMPLETE
        assert set(trial.user_attrs.get(record.RUNGS, {})) == ({"1", "2"} if enabled else set())
    if enabled:
        assert hopeless.state == TrialState.PRUNED
        assert hopeless.user_attrs[record.RUNGS]["1"] > max(
            trial.user_attrs[record.RUNGS]["1"] for trial in learners
        )
        assert record.EPOCHS not in hopeless.user_attrs  # its first fold never ended
    else:
        assert hopeless.state == TrialState.COMPLETE
        assert hopeless.user_attrs[record.EPOCHS] == [3, 3]


@pytest.mark.parametrize("parallel", [1, 2])
def test_trials_that_rank_low_at_a_rung_stop_there_one_at_a_time_or_side_by_side(
    recipe_dict, parallel
) -> None:
    recipe_dict["search"].update(
        trials=2, parallel=parallel, halving={"first_rung": 1, "reduction": 2, "min_trials": 2}
    )
    recipe_dict["training"].update(max_epochs=3, early_stopping={"patience": 3})
    run_dir = Path(recipe_dict["output"])
    run_dir.mkdir(parents=True)
    study = optuna.create_study(study_name="tiny", storage=RunFolder(run_dir).default_storage)
    for _ in range(2):  # two earlier trials that reached a loss no network here reaches
        study.add_trial(
            optuna.trial.create_trial(state=TrialState.PRUNED, user_attrs={record.RUNGS: {"1": 0}})
        )

    result = search(recipe_dict)

    new = result.study.trials[2:]
    assert [t.state for t in new] == [TrialState.PRUNED] * 2
    for trial in new:
        assert list(trial.user_attrs[record.RUNGS]) == ["1"]  # recorded, though pruned
    reasons = result.leaderboard.set_index("trial").loc[[2, 3], "reason"]
    below_the_best_two = (  # of the earlier two, and of trial 2 too once trial 3 sees it
        r"pruned at epoch 1 of fold 1: validation loss \S+ ranked [34] of [34] trials there, "
        r"the best 2 go on \(search.halving\)"
    )
    assert all(re.fullmatch(below_the_best_two, reason) for reason in reasons), list(reasons)
