"""automl: an Optuna search over Keras networks for tabular classification, with plugin backends.

>>> import automl
>>> result = automl.search("recipes/quickstart.yaml", trials=5)  # doctest: +SKIP
>>> result.leaderboard.head()  # doctest: +SKIP
"""

from automl.bundle import ModelBundle
from automl.errors import TrialFailed, UserError
from automl.hookspecs import hookimpl
from automl.recipe import Recipe, load_recipe
from automl.run import SearchResult, search
from automl.sklearn import AutoMLClassifier

__version__ = "0.1.0"

__all__ = [
    "AutoMLClassifier",
    "ModelBundle",
    "Recipe",
    "SearchResult",
    "TrialFailed",
    "UserError",
    "__version__",
    "hookimpl",
    "load_recipe",
    "search",
]
