"""Plugins observe a search through hooks: start, each trial's end, and the end."""

from __future__ import annotations

import pytest

import automl
from automl.plugins import registry


class Recorder:
    """A real plugin object that records what the hooks tell it."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    @automl.hookimpl
    def search_started(self, recipe, study, run_dir) -> None:
        self.events.append(("started", recipe.name, len(study.trials), run_dir.name))

    @automl.hookimpl
    def trial_ended(self, trial) -> None:
        self.events.append(("trial", trial.number, trial.state, "architecture" in trial.attrs))

    @automl.hookimpl
    def search_ended(self, result) -> None:
        self.events.append(("ended", len(result.leaderboard), result.best is not None))


class Broken:
    @automl.hookimpl
    def trial_ended(self, trial) -> None:
        raise ConnectionError("tracking server down")


@pytest.fixture
def plugins():
    manager = registry().manager
    added = []

    def add(plugin: object) -> object:
        manager.register(plugin)
        added.append(plugin)
        return plugin

    yield add
    for plugin in added:
        manager.unregister(plugin)


def test_observers_see_the_search_in_order(plugins, recipe_dict) -> None:
    recorder = plugins(Recorder())
    automl.search(recipe_dict, trials=2)
    assert recorder.events == [
        ("started", "tiny", 0, "run"),
        ("trial", 0, "complete", True),
        ("trial", 1, "complete", True),
        ("ended", 2, True),
    ]


def test_a_failing_observer_is_a_warning_not_a_failed_search(plugins, recipe_dict) -> None:
    plugins(Broken())
    with pytest.warns(UserWarning, match="failed in trial_ended: tracking server down"):
        result = automl.search(recipe_dict, trials=1)
    assert list(result.leaderboard["state"]) == ["complete"]
