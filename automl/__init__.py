"""automl: an Optuna search over Keras networks for tabular classification, with plugin backends.

>>> import automl
>>> result = automl.search("recipes/quickstart.yaml", trials=5)  # doctest: +SKIP
>>> result.leaderboard.head()  # doctest: +SKIP
>>> automl.Run.open("runs/quickstart").best  # doctest: +SKIP
"""

from automl._version import __version__
from automl.errors import TrialFailed, UserError
from automl.plugins import hookimpl
from automl.recipe import Recipe, load_recipe
from automl.results import ModelBundle, SearchResult
from automl.run import Run, search
from automl.sklearn import AutoMLClassifier

__all__ = [
    "AutoMLClassifier",
    "ModelBundle",
    "Recipe",
    "Run",
    "SearchResult",
    "TrialFailed",
    "UserError",
    "__version__",
    "hookimpl",
    "load_recipe",
    "search",
]
