"""What ``automl serve`` serves: a bundle folder, or a run folder's best bundle, checked without
loading a model (nor TensorFlow), and the model's name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from automl.errors import UserError
from automl.results import BUNDLE_FILE, verify_bundle
from automl.run import RunFolder


@dataclass(frozen=True)
class ModelSource:
    """The folder given on the command line, the bundle folder it names, and the model's name."""

    path: Path
    bundle: Path
    name: str


def find_model(path: Path, name: str | None = None) -> ModelSource:
    """Check the bundle that ``path`` names (a bundle folder, or a run folder holding ``best/``)
    and return it with its model name: ``name``, else the run's name, else the folder's name.

    Raises:
        automl.errors.UserError: ``path`` is neither, or its bundle fails :func:`verify_bundle`.
    """
    path = Path(path)
    if (path / BUNDLE_FILE).is_file():
        bundle, run = path, RunFolder(path.resolve().parent)
    elif (RunFolder(path).best / BUNDLE_FILE).is_file():
        bundle, run = RunFolder(path).best, RunFolder(path)
    elif not path.is_dir():
        raise UserError(f"{path}: no such folder; give a model bundle or a run folder")
    else:
        raise UserError(
            f"{path}: neither a model bundle ({BUNDLE_FILE}) nor a run folder with best/"
            f"{BUNDLE_FILE}"
        )
    verify_bundle(bundle)
    return ModelSource(path, bundle, name or _run_name(run) or bundle.resolve().name)


def _run_name(run: RunFolder) -> str | None:
    """The recipe's name recorded in the run folder's ``run.json``, if it has one."""
    try:
        record = run.read_record()
    except (OSError, ValueError):
        return None
    recipe = (record or {}).get("recipe")
    name = recipe.get("name") if isinstance(recipe, dict) else None
    return str(name) if name else None
