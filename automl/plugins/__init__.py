"""Plugins: the hook specifications, and the registry of the backends and pools they provide.

``AUTOML_LOAD_PLUGINS`` limits which entry points load: unset loads all, an empty value loads
none, and ``a,b`` loads only the entry points (or distributions) named ``a`` and ``b``. The
engine's own ``local`` backend and worker processes are a plugin too (``automl.plugins._builtin``).
"""

from automl.plugins._hookspecs import PROJECT, hookimpl, hookspec
from automl.plugins._registry import (
    LOAD_PLUGINS_ENV,
    BackendInfo,
    PluginFailure,
    Registry,
    build_registry,
    plugin_manager,
    registry,
)

__all__ = [
    "LOAD_PLUGINS_ENV",
    "PROJECT",
    "BackendInfo",
    "PluginFailure",
    "Registry",
    "build_registry",
    "hookimpl",
    "hookspec",
    "plugin_manager",
    "registry",
]
