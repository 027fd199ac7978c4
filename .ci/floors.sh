# Sourced by .ci/run: the oldest releases pyproject.toml declares (constraints/minimum.txt),
# installed once in a venv outside the work tree (test_style runs `ruff check .` over the tree), run
# on a named subset of the tests, so that the floors stay true. The Spark plugin is left out: its
# pyarrow floor is above the engine's.

floors_venv=$(mktemp -d /tmp/automl-floors.XXXXXX)
python3 -m venv "$floors_venv"
"$floors_venv/bin/pip" install -q -c constraints/minimum.txt -e '.[test,serve]' -e plugins/automl-processes
"$floors_venv/bin/pip" check
"$floors_venv/bin/python" -m pytest -q -p no:cacheprovider -m 'not slow' -n 2 --dist loadscope --no-loadscope-reorder \
    tests/test_sklearn.py tests/test_bundle.py tests/test_recipe.py tests/test_report.py \
    tests/test_plugins.py tests/test_parallel.py plugins/automl-processes/tests \
    tests/test_bundle_safety.py tests/test_serve.py \
    'tests/test_search.py::test_every_sampler_proposes_reproducibly' \
    'tests/test_shared_study.py::test_a_killed_process_loses_only_its_trial_in_flight'
rm -rf "$floors_venv"
