"""The plugin manager: built-in plugins, entry points of the group ``automl``, and the backends.

``AUTOML_LOAD_PLUGINS`` limits which entry points load: unset loads all, an empty value loads
none, and ``a,b`` loads only the entry points (or distributions) named ``a`` and ``b``.
"""

from __future__ import annotations

import inspect
import os
import re
import typing
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from typing import Any

import pluggy
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from automl._text import did_you_mean
from automl._version import __version__
from automl.errors import UserError
from automl.plugins import _hookspecs as hookspecs
from automl.training import Backend
from automl.tuning import SearchJob, TrialPool

LOAD_PLUGINS_ENV = "AUTOML_LOAD_PLUGINS"
_BUILTIN_PLUGINS = ("automl.plugins._builtin",)


@dataclass(frozen=True)
class BackendInfo:
    """A registered backend: its name, where it comes from and how to make one."""

    name: str
    factory: Callable[..., Backend]
    package: str
    version: str
    description: str = ""

    @property
    def options(self) -> dict[str, Any]:
        """The factory's keyword options and their defaults."""
        parameters = inspect.signature(self.factory).parameters.values()
        return {
            p.name: (None if p.default is inspect.Parameter.empty else p.default)
            for p in parameters
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        }

    def create(self, options: dict[str, Any]) -> Backend:
        """Make a backend with the recipe's options, checked against the factory's signature.

        A value the factory itself refuses (``ValueError``, ``TypeError``) is a user error too.
        """
        checked = self.check(options)
        try:
            return self.factory(**checked)
        except (ValueError, TypeError) as exc:
            given = ", ".join(f"{k}={v!r}" for k, v in checked.items()) or "no options"
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(
                f"backend.options: backend '{self.name}' refused {given}: {reason}"
            ) from None

    def check(self, options: dict[str, Any]) -> dict[str, Any]:
        """The recipe's options, checked against the factory's signature, without making one."""
        known = self.options
        for key in options:
            if key not in known:
                allowed = ", ".join(known) or "none"
                raise UserError(
                    f"backend.options.{key}: unknown option for backend '{self.name}'"
                    f"{did_you_mean(key, known)}; allowed: {allowed}"
                )
        try:
            checked = _options_model(self.factory).model_validate(options)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise UserError(
                f"backend.options.{error['loc'][0]}: {error['msg']}, got {error['input']!r}"
            ) from None
        return {key: getattr(checked, key) for key in options}


def _options_model(factory: Callable[..., Backend]) -> type[BaseModel]:
    """A pydantic model of the factory's annotated keyword options, to check recipe values."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    hints = typing.get_type_hints(target)
    fields: dict[str, Any] = {  # name: (annotation, default or ... when required)
        p.name: (hints.get(p.name, Any), ... if p.default is inspect.Parameter.empty else p.default)
        for p in inspect.signature(factory).parameters.values()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    return create_model("BackendOptions", __config__=ConfigDict(strict=False), **fields)


@dataclass(frozen=True)
class PluginFailure:
    """An entry point that could not be loaded, and why."""

    entry_point: str
    package: str
    error: str

    def __str__(self) -> str:
        return f"plugin '{self.entry_point}' ({self.package}) failed to load: {self.error}"

    def may_provide(self, backend: str) -> bool:
        """Whether the plugin's names share a word with ``backend`` (``spark``, ``spark-sync``)."""
        return bool(_words(backend) & (_words(self.entry_point) | _words(self.package)))


def _words(name: str) -> set[str]:
    return set(re.split(r"[-_.\s]+", name.lower())) - {"", hookspecs.PROJECT}


@dataclass
class Registry:
    """What the loaded plugins registered, and the manager that calls their hooks."""

    manager: pluggy.PluginManager
    backends: dict[str, BackendInfo] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call an observation hook; a plugin's exception becomes a warning, not a failed run."""
        caller = getattr(self.manager.hook, hook)
        for impl in caller.get_hookimpls():
            try:
                impl.function(**{name: kwargs[name] for name in impl.argnames})
            except Exception as exc:
                warnings.warn(f"plugin '{impl.plugin_name}' failed in {hook}: {exc}", stacklevel=2)

    def trial_pool(
        self, backend: Backend, options: dict[str, Any], workers: int, job: SearchJob
    ) -> TrialPool | None:
        """The first pool a plugin makes for ``workers`` trials at once (``None``: no plugin can
        run this backend's trials side by side)."""
        pool: TrialPool | None = self.manager.hook.make_trial_pool(
            backend=backend, options=options, workers=workers, job=job
        )
        return pool

    def backend(self, name: str) -> BackendInfo:
        """The backend called ``name``, or a user error listing the installed ones.

        A plugin that failed to load is named in the error when it may be the one that provides
        ``name``, and otherwise in a warning: the search goes on with the chosen backend.
        """
        if name in self.backends:
            for failure in self.failures:
                warnings.warn(f"{failure}; searching with backend '{name}'", stacklevel=2)
            return self.backends[name]
        suspects = [f for f in self.failures if f.may_provide(name)]
        if len(suspects) == 1:
            raise UserError(f"backend.name: backend '{name}' is not available: {suspects[0]}")
        installed = ", ".join(sorted(self.backends))
        failed = "; ".join(str(f) for f in suspects or self.failures)
        raise UserError(
            f"backend.name: no backend '{name}'{did_you_mean(name, self.backends)}; "
            f"installed: {installed}" + (f"; {failed}" if failed else "")
        )


def plugin_manager() -> pluggy.PluginManager:
    """A fresh plugin manager with the hook specifications added and nothing registered."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


@cache
def registry() -> Registry:
    """Load the built-in and installed plugins once per process and collect their backends."""
    return build_registry(plugin_manager(), entry_points=True)


def build_registry(manager: pluggy.PluginManager, *, entry_points: bool) -> Registry:
    """Register the built-in plugins (and entry points) in ``manager`` and collect backends."""
    result = Registry(manager)
    packages: dict[str, tuple[str, str]] = {}
    for module_name in _BUILTIN_PLUGINS:
        if manager.get_plugin(module_name) is None:
            manager.register(__import__(module_name, fromlist=["_"]), name=module_name)
        packages[module_name] = ("automl", __version__)
    if entry_points:
        _load_entry_points(manager, packages, result)
    for impl in manager.hook.register_backends.get_hookimpls():
        package, version = packages.get(impl.plugin_name, (impl.plugin_name, ""))

        def register(
            name: str,
            factory: Callable[..., Backend],
            *,
            description: str = "",
            _package: str = package,
            _version: str = version,
        ) -> None:
            if name in result.backends:
                raise UserError(
                    f"backend '{name}' is registered twice "
                    f"({result.backends[name].package} and {_package})"
                )
            result.backends[name] = BackendInfo(name, factory, _package, _version, description)

        impl.function(register=register)
    return result


def _load_entry_points(
    manager: pluggy.PluginManager, packages: dict[str, tuple[str, str]], result: Registry
) -> None:
    wanted = os.environ.get(LOAD_PLUGINS_ENV)
    allowed = None if wanted is None else {w.strip() for w in wanted.split(",") if w.strip()}
    for entry in metadata.entry_points(group=hookspecs.PROJECT):
        package = entry.dist.name if entry.dist else entry.value
        version = entry.dist.version if entry.dist else ""
        if allowed is not None and not {entry.name, package} & allowed:
            continue
        try:
            plugin = entry.load()
            manager.register(plugin, name=entry.name)
            manager.check_pending()
        except Exception as exc:  # a broken plugin must not break the product
            if manager.get_plugin(entry.name) is not None:
                manager.unregister(name=entry.name)
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            result.failures.append(PluginFailure(entry.name, package, reason))
            continue
        packages[entry.name] = (package, version)
