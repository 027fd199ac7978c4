"""Long searches stay flat in memory: worker processes are recycled after their share of folds."""

from __future__ import annotations

import time

from automl.backends import TrainSettings
from automl.data import load_dataset
from automl.recipe import load_recipe
from automl.space import ModelSpec
from automl.workers import FoldTask, ProcessPool, SearchJob


def test_a_worker_is_replaced_by_a_fresh_process_after_its_share_of_folds(recipe_dict) -> None:
    recipe = load_recipe(recipe_dict)
    dataset = load_dataset(recipe.data)
    job = SearchJob(dataset, list(dataset.folds(2, 0)), TrainSettings(max_epochs=1), "log_loss")
    pool = ProcessPool(1, job, recycle_after=2, threads=1)
    spec = ModelSpec(hidden_units=(4,), batch_size=32).to_dict()
    pids, outcomes = [], []
    try:
        for number in range(5):
            pids.append(pool._workers[0].process.pid)
            pool.submit(FoldTask(number, spec, number % 2))
            deadline = time.monotonic() + 120
            while len(outcomes) == number and time.monotonic() < deadline:
                outcomes += pool.wait(1.0)
    finally:
        pool.close()
    assert [o.error for o in outcomes] == [""] * 5
    assert all(o.record is not None and not o.lost for o in outcomes)
    # folds 1-2 on the first process, 3-4 on a second, 5 on a third
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
