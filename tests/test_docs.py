"""The plugin guide quotes the example plugin's real code: each quoted excerpt must still match."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"
BLOCK = re.compile(r"```(?:python|toml)\n# (\S+)\n(.*?)```", re.DOTALL)


def excerpts() -> list[tuple[str, str]]:
    return BLOCK.findall(GUIDE.read_text())


def test_the_guide_quotes_files() -> None:
    assert len(excerpts()) >= 3


@pytest.mark.parametrize(("path", "body"), excerpts(), ids=[p for p, _ in excerpts()])
def test_each_excerpt_is_in_its_file_line_for_line(path: str, body: str) -> None:
    source = (ROOT / path).read_text().splitlines()
    wanted = [line.rstrip() for line in body.splitlines() if line.strip()]
    position = 0
    for line in wanted:
        try:
            position = source.index(line, position) + 1
        except ValueError:
            pytest.fail(f"{path} no longer has (in this order): {line!r}")


# --- The guide documents every hook and every member of the backend contract -----------------
#
# Like Datasette's test that each plugin hook has a documentation section: a hook specification
# or a public ``Backend`` member added, renamed or given another parameter fails here until the
# guide says so. A name counts as documented by an inline code span outside the fenced excerpts
# (a heading, a table row or prose) that spells its signature, e.g. `trial_ended(trial, study)`.

FENCED = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
CODE_SPAN = re.compile(r"`([^`]+)`")


def code_spans(text: str) -> list[str]:
    """The guide's inline code spans (a span may wrap a line), fenced blocks left out."""
    return [" ".join(span.split()) for span in CODE_SPAN.findall(FENCED.sub("", text))]


def parameter_names(arguments: str) -> list[str]:
    """``a, b: dict[str, int], *, c=None`` -> ``["a", "b", "c"]`` (annotations, defaults, ``*``
    and ``/`` dropped; commas inside brackets do not split)."""
    pieces, depth, current = [], 0, ""
    for char in arguments:
        if char == "," and depth == 0:
            pieces.append(current)
            current = ""
            continue
        depth += char in "([{"
        depth -= char in ")]}"
        current += char
    pieces.append(current)
    names = (re.match(r"\w+", piece.strip().lstrip("*")) for piece in pieces)
    return [name.group() for name in names if name]


def documented_signatures(text: str, name: str, owner: str = "") -> list[list[str]]:
    """The parameter lists of every `name(...)` in the guide's code spans. ``owner`` allows a
    qualified form too (`Backend.close()`); another qualifier (`TrialPool.close()`) is not it."""
    qualifier = rf"(?:{re.escape(owner)}\.)?" if owner else ""
    call = re.compile(rf"(?<![\w.]){qualifier}{re.escape(name)}\(([^()]*)\)")
    return [parameter_names(args) for span in code_spans(text) for args in call.findall(span)]


def signature_gap(text: str, kind: str, name: str, params: list[str], owner: str = "") -> str:
    """What the guide lacks to document ``name(params)``: "" when some code span spells exactly
    that signature, otherwise a line naming the member and the missing (or stale) parameters."""
    wanted = f"{kind} {name}({', '.join(params)})"
    found = documented_signatures(text, name, owner)
    if params in found:
        return ""
    if not found:
        return f"{wanted}: {GUIDE.name} has no `{name}(...)` signature"
    closest = max(found, key=lambda names: (len(set(names) & set(params)), -len(names)))
    missing = [p for p in params if p not in closest]
    stale = [p for p in closest if p not in params]
    problems = [f"parameter {p!r} is not documented" for p in missing]
    problems += [f"documents a parameter {p!r} it does not have" for p in stale]
    problems = problems or ["parameters in another order"]
    return f"{wanted}: {GUIDE.name} has `{name}({', '.join(closest)})`: {'; '.join(problems)}"


def hook_specs() -> dict[str, list[str]]:
    """Every hook specification (functions carrying pluggy's ``automl_spec`` marker)."""
    from automl.plugins import PROJECT, _hookspecs

    return {
        name: list(inspect.signature(function).parameters)
        for name, function in inspect.getmembers(_hookspecs, inspect.isfunction)
        if hasattr(function, f"{PROJECT}_spec")
    }


def backend_methods() -> dict[str, list[str]]:
    """The public methods defined on ``automl.training.Backend``, with their parameters."""
    from automl.training import Backend

    return {
        name: [p for p in inspect.signature(getattr(Backend, name)).parameters if p != "self"]
        for name, member in vars(Backend).items()
        if not name.startswith("_") and callable(getattr(member, "__func__", member))
    }


def backend_attributes() -> list[str]:
    """The public attributes (not methods) defined on ``automl.training.Backend``."""
    from automl.training import Backend

    methods = backend_methods()
    return [name for name in vars(Backend) if not name.startswith("_") and name not in methods]


def hook_gaps(text: str) -> list[str]:
    """One line per hook specification the guide does not document with its parameters."""
    gaps = (signature_gap(text, "hook", name, params) for name, params in hook_specs().items())
    return [gap for gap in gaps if gap]


def backend_gaps(text: str) -> list[str]:
    """One line per public ``Backend`` method or attribute the guide does not document."""
    gaps = [
        signature_gap(text, "Backend method", name, params, owner="Backend")
        for name, params in backend_methods().items()
    ]
    spans = code_spans(text)
    gaps += [
        f"Backend attribute {name}: {GUIDE.name} has no code span naming `{name}`"
        for name in backend_attributes()
        if not any(re.search(rf"(?<![\w.])(?:Backend\.)?{name}\b", span) for span in spans)
    ]
    return [gap for gap in gaps if gap]


def test_the_checks_see_every_hook_and_backend_member() -> None:
    from automl.plugins import plugin_manager

    callers = {name for name in vars(plugin_manager().hook) if not name.startswith("_")}
    assert set(hook_specs()) == callers
    assert {"evaluate", "fit", "evaluate_folds", "configure_process", "close"} <= set(
        backend_methods()
    )
    assert backend_methods()["configure_process"] == ["threads"]
    assert "process_safe" in backend_attributes()


def test_every_hook_is_documented_with_its_parameters() -> None:
    gaps = hook_gaps(GUIDE.read_text())
    assert not gaps, "undocumented in docs/plugins.md:\n" + "\n".join(gaps)


def test_every_backend_method_and_attribute_is_documented() -> None:
    gaps = backend_gaps(GUIDE.read_text())
    assert not gaps, "undocumented in docs/plugins.md:\n" + "\n".join(gaps)


def without_lines_naming(text: str, name: str) -> str:
    """The guide with every line that mentions ``name(`` removed, as if its section were cut."""
    return "\n".join(line for line in text.splitlines() if f"{name}(" not in line)


@pytest.mark.parametrize("hook", sorted(hook_specs()))
def test_the_hook_check_reports_a_hook_cut_from_the_guide(hook: str) -> None:
    text = without_lines_naming(GUIDE.read_text(), hook)
    assert f"{hook}(" not in " ".join(code_spans(text))
    reported = [gap for gap in hook_gaps(text) if gap.startswith(f"hook {hook}(")]
    assert reported == [
        f"hook {hook}({', '.join(hook_specs()[hook])}): plugins.md has no `{hook}(...)` signature"
    ]


def test_the_checks_report_a_missing_parameter_and_a_missing_attribute() -> None:
    text = GUIDE.read_text()
    text = re.sub(r"make_trial_pool\([^()]*\)", "make_trial_pool(backend)", text)
    text = text.replace("process_safe", "process_ok")
    assert hook_gaps(text) == [
        "hook make_trial_pool(backend, options, workers, job): plugins.md has "
        "`make_trial_pool(backend)`: parameter 'options' is not documented; "
        "parameter 'workers' is not documented; parameter 'job' is not documented"
    ]
    assert backend_gaps(text) == [
        "Backend attribute process_safe: plugins.md has no code span naming `process_safe`"
    ]


def test_a_qualified_method_of_another_class_is_not_the_backend_s() -> None:
    text = "`TrialPool.close()` and `pool.configure_process(threads)`"
    gaps = backend_gaps(text)
    assert "Backend method close(): plugins.md has no `close(...)` signature" in gaps
    assert any(gap.startswith("Backend method configure_process(threads):") for gap in gaps)
    assert parameter_names("a, b: dict[str, int] = {}, *, c=None, **kw") == ["a", "b", "c", "kw"]


def resolves(dotted: str) -> bool:
    """Whether ``automl.a.b`` names a module, or an attribute of the longest importable one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            if not hasattr(target, part):
                return False
            target = getattr(target, part)
        return True
    return False


def test_every_automl_name_the_guide_quotes_exists() -> None:
    named = {
        name
        for span in code_spans(GUIDE.read_text())
        for name in re.findall(r"(?<![\w.])automl(?:\.\w+)+", span)
    }
    assert "automl.training.Backend" in named
    missing = sorted(name for name in named if not resolves(name))
    assert not missing, f"{GUIDE.name} names what automl no longer has: {', '.join(missing)}"


def layout_rows(text: str) -> list[tuple[list[str], list[str]]]:
    """The Layout table: each row's modules and the names it says a plugin imports from them."""
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) < 4 or not cells[1].strip().startswith("`automl"):
            continue
        modules = CODE_SPAN.findall(cells[1])
        names = [re.match(r"\w+", span).group() for span in CODE_SPAN.findall(cells[2])]
        rows.append((modules, names))
    return rows


def test_the_layout_lists_public_names_of_its_packages() -> None:
    rows = layout_rows(GUIDE.read_text())
    assert {"automl.training", "automl.keras", "automl.tuning"} <= {m for r in rows for m in r[0]}
    wrong = []
    for modules, names in rows:
        imported = [importlib.import_module(module) for module in modules]
        for name in names:
            exported = (
                getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")])
                for module in imported
            )
            if not any(name in public for public in exported):
                wrong.append(f"{name} (from {', '.join(modules)})")
    assert not wrong, f"{GUIDE.name}'s Layout lists names not exported: {', '.join(wrong)}"
