"""Loading a recipe from YAML, a dict or a Recipe, with overrides, as one-line errors."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from automl.errors import UserError
from automl.recipe._schema import Recipe


def load_recipe(
    source: str | Path | dict[str, Any] | Recipe, overrides: dict[str, Any] | None = None
) -> Recipe:
    """Load and validate a recipe from a YAML path, a dict or a :class:`Recipe`.

    Relative data paths in a file are taken from the file's folder; in a dict, from the current
    folder. ``overrides`` maps dotted field names (``"search.trials"``) to values.

    Example:
        >>> recipe = load_recipe({"name": "demo", "data": {"train": "t.csv", "target": "y"}},
        ...                      overrides={"search.trials": 5})
        >>> recipe.search.trials
        5
    """
    if isinstance(source, Recipe):
        raw, origin, base = source.model_dump(exclude_unset=True), "recipe", Path.cwd()
    elif isinstance(source, dict):
        raw, origin, base = dict(source), "recipe", Path.cwd()
    else:
        path = Path(source)
        raw, origin, base = _read_yaml(path), str(path), path.resolve().parent
        raw.setdefault("name", path.stem)
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        raise UserError(f"{origin}: {_first_error(exc)}") from None
    return _resolve_paths(recipe, base)


_SETTING = re.compile(r"\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)\s*=(.*)", re.DOTALL)


def parse_overrides(settings: Iterable[str]) -> dict[str, Any]:
    """Turn ``section.field=value`` texts (the command line's ``--set``) into the ``overrides``
    of :func:`load_recipe`; each value is read as YAML (``5``, ``3m``, ``[1, 2]``, ``{a: 2}``).

    A later setting of the same field wins.

    Raises:
        automl.errors.UserError: a text is not ``section.field=value`` or its value is not YAML.

    Example:
        >>> parse_overrides(["search.trials=5", "space.layers=[1, 2]"])
        {'search.trials': 5, 'space.layers': [1, 2]}
    """
    overrides: dict[str, Any] = {}
    for setting in settings:
        matched = _SETTING.fullmatch(setting)
        if matched is None:
            raise UserError(
                f"--set {setting[:80]!r}: expected section.field=value, e.g. search.trials=5"
            )
        dotted, text = matched.groups()
        try:
            overrides[dotted] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise UserError(
                f"--set {dotted}: {text[:80]!r} is not a YAML value: {problem}"
            ) from None
    return overrides


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise UserError(f"{path}: recipe file not found")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected a recipe file (.yaml)")
    try:
        loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 text file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UserError(f"{path}{where}: {problem}") from None
    if loaded is None:
        raise UserError(f"{path}: the recipe is empty")
    if not isinstance(loaded, dict):
        raise UserError(f"{path}: a recipe is a mapping of sections (name, data, space, ...)")
    return loaded


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load``, but a key given twice in one mapping is an error, not the last wins."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' appears twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = (
                dict(child.model_dump(exclude_unset=True)) if isinstance(child, BaseModel) else {}
            )
            node[key] = child
        node = child
    node[leaf] = value


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"] if part not in _DIMENSION_TAGS)
    message = first["msg"].removeprefix("Value error, ") + _given(first)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {message}{more}" if where else f"{message}{more}"


_DIMENSION_TAGS = {"fixed", "range", "choices"}


def _given(error: Any) -> str:
    """``", got 'many'"`` for a type or choice error on a plain value, else an empty string."""
    value = error.get("input")
    if not error["msg"].startswith("Input should be") or not isinstance(value, (str, int, float)):
        return ""
    return f", got {value!r}"


def _resolve_paths(recipe: Recipe, base: Path) -> Recipe:
    data = recipe.data
    resolved = data.model_copy(
        update={
            "train": (base / data.train).resolve() if data.train is not None else None,
            "test": (base / data.test).resolve() if data.test is not None else None,
        }
    )
    return recipe.model_copy(update={"data": resolved})
