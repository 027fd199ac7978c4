"""``automl plugin new``: write a backend plugin package that installs and passes the contract."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from string import Template

from automl.errors import UserError

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Template file → where it goes in the new package ({module} is the import name).
_LAYOUT = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "__init__.py.tmpl": "src/{module}/__init__.py",
    "plugin.py.tmpl": "src/{module}/plugin.py",
    "backend.py.tmpl": "src/{module}/backend.py",
    "test_backend.py.tmpl": "tests/test_backend.py",
}


def new_plugin(name: str, parent: Path) -> Path:
    """Write the package ``automl-<name>`` for a backend called ``name`` under ``parent``.

    Example:
        >>> new_plugin("ray", Path("."))  # doctest: +SKIP
        PosixPath('automl-ray')
    """
    if not _NAME.match(name):
        raise UserError(
            f"plugin name '{name}': use lower-case letters, digits and _, starting with a letter"
        )
    values = {
        "name": name,
        "dist": f"automl-{name.replace('_', '-')}",
        "module": f"automl_{name}",
        "cls": "".join(part.capitalize() for part in name.split("_")) + "Backend",
    }
    target = parent / values["dist"]
    if target.exists():
        raise UserError(f"{target} exists; choose another name or folder")
    templates = resources.files("automl").joinpath("templates/plugin")
    for source, destination in _LAYOUT.items():
        path = target / destination.format(**values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(templates.joinpath(source).read_text()).substitute(values))
    return target
