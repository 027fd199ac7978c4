"""A run: from a recipe to a run folder of artifacts, and back.

:func:`search` runs (or continues) a recipe's search through named phases; :class:`RunFolder`
owns every path of a run folder; :class:`Run` reopens a finished run (its leaderboard, best
bundle, study, holdout scores and recipe); ``run.json`` and the report are written here too.
"""

from automl.run._distributed import open_table
from automl.run._dryrun import describe_space, planned_outputs, searched
from automl.run._folder import LOCK_FILE, RunFolder
from automl.run._pipeline import run_recipe
from automl.run._record import recorded_recipe
from automl.run._reopen import Run
from automl.run._report import write_report
from automl.run._search import search

__all__ = [
    "LOCK_FILE",
    "Run",
    "RunFolder",
    "describe_space",
    "open_table",
    "planned_outputs",
    "recorded_recipe",
    "run_recipe",
    "search",
    "searched",
    "write_report",
]
