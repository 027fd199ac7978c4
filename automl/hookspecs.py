"""Hook specifications: what a plugin can provide. Plugins implement them with ``@automl.hookimpl``.

A plugin is a module or object registered under the entry-point group ``automl``::

    [project.entry-points.automl]
    my_backend = "my_package.plugin"
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "automl"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_backends(register: Any) -> None:
    """Register training backends. Called once, when the plugins are first loaded.

    :param register: call ``register(name, factory, description="...")`` for each backend.
        ``factory`` is a :class:`automl.backends.Backend` subclass (or any callable) that takes
        the recipe's ``backend.options`` as keyword arguments and returns a backend.
    """
