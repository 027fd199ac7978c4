"""The page at ``/``: the model card and a "try one row" form, in one self-contained HTML page.

Everything is inline (no CDN, no other fetch than the form's own request to ``/invocations``),
and a Content-Security-Policy admits only this page's own script and style. Every string from the
bundle or the run is escaped: :func:`html.escape` in the markup, and the JSON the script reads is
embedded with ``<``, ``>`` and ``&`` as ``\\u`` escapes, so no value can close its element.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from importlib import resources
from pathlib import Path
from typing import Any

from automl._version import __version__
from automl.results import ModelBundle
from automl.serve._card import ModelCard, Table, model_card
from automl.serve._settings import TOKEN_VARIABLE

_ASSETS = resources.files("automl").joinpath("serve/assets")


def model_page(bundle: ModelBundle, source: Path, *, model_name: str) -> str:
    """The whole HTML page for ``bundle``, served from ``source`` (a run or bundle folder) under
    ``model_name``."""
    card = model_card(bundle, source)
    style = _ASSETS.joinpath("page.css").read_text(encoding="utf-8")
    script = _ASSETS.joinpath("page.js").read_text(encoding="utf-8")
    policy = (
        "default-src 'none'; connect-src 'self'; img-src data:; base-uri 'none'; "
        f"form-action 'none'; style-src '{_digest(style)}'; script-src '{_digest(script)}'"
    )
    name = _e(model_name)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<title>{name} · automl</title>
<link rel="icon" href="data:,">
<style>{style}</style>
</head>
<body>
{_header(card, bundle, name)}
<main>
{_try_form(bundle)}
{_result()}
{_model_section(card)}
{_scores_section(card)}
{_leaderboard_section(card.leaderboard)}
</main>
<footer>Served by automl {_e(__version__)} · <code>POST /invocations</code> ·
<code>GET /metrics</code></footer>
<script type="application/json" id="model-data">{_script_json(_page_data(bundle))}</script>
<script>{script}</script>
</body>
</html>
"""


def _header(card: ModelCard, bundle: ModelBundle, name: str) -> str:
    facts = [
        f"<b>{len(card.classes)}</b> classes",
        f"<b>{len(bundle.schema.columns)}</b> features",
        f"final model <b>{_e(card.final_model)}</b>",
    ]
    if card.scores.rows and card.scores.rows[0][1]:
        metric, cross, _ = card.scores.rows[0]
        facts.append(f"CV {_e(metric)} <b>{_e(cross)}</b>")
    chips = "".join(f'<span class="fact">{fact}</span>' for fact in facts)
    return (
        '<header class="top"><div class="wrap"><div class="brand">automl model server</div>'
        f"<h1>{name}</h1>"
        f'<p class="subtitle">Predicts <b>{_e(card.target)}</b> from a table row.</p>'
        f'<div class="facts">{chips}</div></div></header>'
    )


def _try_form(bundle: ModelBundle) -> str:
    numeric = set(bundle.schema.numeric)
    prefilled = (
        "typical values of the training rows"
        if bundle.info.get("example")
        else "zeros and empty categories (this bundle stores no typical row)"
    )
    fields = []
    for index, (column, value) in enumerate(bundle.example_row.items()):
        kind = 'type="number" step="any"' if column in numeric else 'type="text"'
        fields.append(
            f'<label for="feature-{index}"><span title="{_e(column)}">{_e(column)}</span>'
            f'<input id="feature-{index}" {kind} value="{_e(_shown(value))}"></label>'
        )
    return (
        '<section class="card" aria-labelledby="try-title"><h2 id="try-title">Try one row</h2>'
        f'<p class="hint">Prefilled with {prefilled}; change any.</p>'
        f'<form id="try-form"><div class="fields">{"".join(fields)}</div>'
        '<div class="actions"><label for="token"><span>Token (only if the server needs one)'
        '</span><input id="token" type="password" autocomplete="off"></label>'
        '<button id="submit" type="submit">Predict</button></div></form></section>'
    )


def _result() -> str:
    return (
        '<section class="card" aria-labelledby="result-title">'
        '<h2 id="result-title">Prediction</h2><div id="result" aria-live="polite">'
        '<p class="placeholder">Press <b>Predict</b> to send the row to '
        "<code>/invocations</code>.</p></div>"
        '<div class="curl-head"><h3>The same request with curl</h3>'
        '<button id="copy" class="quiet" type="button">Copy</button></div>'
        '<pre id="curl"></pre></section>'
    )


def _model_section(card: ModelCard) -> str:
    pairs = [("Final model", card.final_model)]
    if card.ensemble_method:
        pairs.append(("Ensemble", card.ensemble_method))
    if card.architecture:
        pairs.append(("Architecture", card.architecture))
    body = _pairs(pairs)
    if card.members:
        total = sum(weight for _, weight in card.members) or 1.0
        rows = "".join(
            f"<tr><td>{_e(name)}</td><td>{weight:.3g}</td>"
            f'<td class="share"><span class="share-track"><span class="share-fill" '
            f'data-share="{weight / total:.4f}"></span></span></td></tr>'
            for name, weight in card.members
        )
        body += (
            '<h3>Members</h3><table class="members"><thead><tr><th>candidate</th>'
            f"<th>weight</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
        )
    chips = "".join(f'<span class="chip">{_e(name)}</span>' for name in card.classes)
    body += f'<h3>Classes</h3><div class="chips" id="classes">{chips}</div>'
    return f'<section class="card"><h2>Model</h2>{body}</section>'


def _scores_section(card: ModelCard) -> str:
    scores = _table(card.scores) if card.scores.rows else '<p class="placeholder">None.</p>'
    versions = "".join(
        f'<span class="version">{_e(name)} <b>{_e(version)}</b></span>'
        for name, version in card.versions
    )
    return (
        f'<section class="card"><h2>Scores</h2>{scores}'
        f'<h3>Library versions</h3><div class="chips">{versions}</div></section>'
    )


def _leaderboard_section(board: Table | None) -> str:
    if board is None:
        return ""
    marked = "" if board.marked is None else "; the served model's row is highlighted"
    return (
        '<section class="card wide"><h2>Leaderboard</h2>'
        f'<p class="hint">The top of the run\'s leaderboard.csv{marked}.</p>'
        f'<div class="scroll">{_table(board)}</div></section>'
    )


def _table(table: Table) -> str:
    head = "".join(f"<th>{_e(column)}</th>" for column in table.columns)
    rows = "".join(
        ("<tr class='served'>" if index == table.marked else "<tr>")
        + "".join(f"<td>{_e(cell)}</td>" for cell in row)
        + "</tr>"
        for index, row in enumerate(table.rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _pairs(pairs: list[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{_e(key)}</dt><dd>{_e(value)}</dd>" for key, value in pairs)
    return f'<dl class="pairs">{items}</dl>'


def _page_data(bundle: ModelBundle) -> dict[str, Any]:
    """What the script needs: the columns in order, which are numeric, the classes and label
    column as the server names them in its replies."""
    numeric = set(bundle.schema.numeric)
    return {
        "columns": list(bundle.schema.columns),
        "numeric": [column in numeric for column in bundle.schema.columns],
        "classes": [str(c) for c in bundle.classes],
        "label": bundle.label_column,
        "token_variable": TOKEN_VARIABLE,
    }


def _script_json(data: Any) -> str:
    """JSON that is safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` left to end it or
    open a comment."""
    text = json.dumps(data, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _shown(value: Any) -> str:
    """An example value as the form shows it: numbers without a needless ``.0``."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def _digest(text: str) -> str:
    """The CSP source that admits exactly this inline script or style."""
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)
