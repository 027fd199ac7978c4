"""Long searches stay flat in memory: the graphs a fit traces are freed when it ends, and worker
processes are recycled after their share of folds."""

from __future__ import annotations

import gc
import threading
import time

from sample_tables import blobs

from automl.data import load_dataset
from automl.keras import LocalBackend, runs_eagerly
from automl.recipe import load_recipe
from automl.spec import ModelSpec
from automl.training import TrainSettings
from automl.tuning import FoldTask, ProcessPool, SearchJob

TRACED = ModelSpec(hidden_units=(8,), batch_size=8)
SETTINGS = TrainSettings(max_epochs=2, patience=2)


def traced_graphs() -> int:
    """How many graphs TensorFlow has traced that are still alive."""
    from tensorflow.python.framework.func_graph import FuncGraph

    gc.collect()
    return sum(isinstance(o, FuncGraph) for o in gc.get_objects())


def test_the_graphs_a_fit_traces_are_freed_when_it_ends() -> None:
    data = blobs(rows=900)
    assert not runs_eagerly(len(data.x_train), TRACED.batch_size, SETTINGS.max_epochs)
    backend = LocalBackend()
    backend.evaluate(TRACED, data, SETTINGS)  # the first fit also makes what every fit shares
    before = traced_graphs()
    for _ in range(3):
        result = backend.evaluate(TRACED, data, SETTINGS)
        assert result.model.run_eagerly is False
        del result
    # TensorFlow's gradient registry used to keep two training-step graphs of every fit alive
    assert traced_graphs() <= before


def test_fits_side_by_side_in_threads_all_train_and_leave_no_graph_behind() -> None:
    data = blobs(rows=900)
    backend = LocalBackend()
    backend.evaluate(TRACED, data, SETTINGS)
    before = traced_graphs()
    results: list[float] = []

    def fit() -> None:
        results.append(backend.evaluate(TRACED, data, SETTINGS).valid_proba.sum())

    threads = [threading.Thread(target=fit) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    assert traced_graphs() <= before


def test_a_worker_is_replaced_by_a_fresh_process_after_its_share_of_folds(recipe_dict) -> None:
    recipe = load_recipe(recipe_dict)
    dataset = load_dataset(recipe.data)
    job = SearchJob(dataset, list(dataset.folds(2, 0)), TrainSettings(max_epochs=1), "log_loss")
    pool = ProcessPool(1, job, LocalBackend, recycle_after=2, threads=1)
    spec = ModelSpec(hidden_units=(4,), batch_size=32).to_dict()
    pids, outcomes = [], []
    try:
        for number in range(5):
            pids.append(pool.workers.pids()[0])
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
