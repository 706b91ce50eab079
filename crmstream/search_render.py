"""Rendering a search's results: a rich table with the matches highlighted, or JSON.

:func:`render_table` prints what ``crmstream search`` shows on a terminal,
:func:`render_json` what ``--json`` prints; both take the
:class:`~crmstream.search.SearchResult` of :func:`crmstream.search.search`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from crmstream.search import HIGHLIGHT_END, HIGHLIGHT_START, TEXT_FIELDS, SearchHit, SearchResult

__all__ = ["render_json", "render_table"]

_SNIPPET_CHARS = 160


def _time(value: Any) -> str:
    if not isinstance(value, str):
        return "-"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return value
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return f"{when:%Y-%m-%d %H:%M}"


def _number(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else "-"


def _plain(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _marked(fragment: str) -> Text:
    """A highlight fragment as rich text, the matches in bold yellow."""
    out = Text()
    for i, part in enumerate(re.split(f"[{HIGHLIGHT_START}{HIGHLIGHT_END}]", fragment)):
        out.append(part, style="bold yellow" if i % 2 else "")
    return out


def _snippet(hit: SearchHit) -> Text:
    """The highlighted fragment of text (or subject), else the start of the text."""
    for name in TEXT_FIELDS:
        fragments = hit.highlight.get(name)
        if fragments:
            snippet = _marked(" ".join(fragments[0].split()))
            if name == "subject":  # the match is in the subject: show it, then the text
                snippet = Text("subject: ", style="dim") + snippet + Text(" · ") + _start(hit)
            return snippet
    return _start(hit)


def _start(hit: SearchHit) -> Text:
    text = " ".join(str(hit.source.get("text") or "").split())
    if len(text) > _SNIPPET_CHARS:
        text = text[: _SNIPPET_CHARS - 1] + "…"
    return Text(text)


def render_table(result: SearchResult, console: Console) -> None:
    """Print the hits as a table (matches highlighted), then how many matched."""
    if not result.hits:
        console.print("no communications found")
        return
    # A narrow terminal keeps the text readable and drops who-columns first.
    wide = console.width >= 120
    columns: list[tuple[str, Callable[[Mapping[str, Any]], Text | str], bool]] = [
        ("time (UTC)", lambda s: _time(s.get("occurred_at")), True),
        ("channel", lambda s: _plain(s.get("channel")), True),
        ("customer", lambda s: _plain(s.get("customer_id")), wide),
        ("agent", lambda s: _plain(s.get("agent_id")), wide),
        ("need", lambda s: _plain(s.get("need")), True),
        ("satisf.", lambda s: _number(s.get("satisfaction")), True),
        ("urgency", lambda s: _plain(s.get("urgency_level")), True),
        ("lang", lambda s: _plain(s.get("language")), wide),
    ]
    shown = [(name, cell) for name, cell, keep in columns if keep]
    table = Table(*(name for name, _ in shown), "text", show_lines=False)
    for column in table.columns[:-1]:
        column.no_wrap = True
    table.columns[-1].ratio = 1
    table.columns[-1].min_width = 30
    for hit in result.hits:
        source: Mapping[str, Any] = hit.source
        table.add_row(*(cell(source) for _, cell in shown), _snippet(hit))
    console.print(table)
    more = "+" if result.total_relation == "gte" else ""
    console.print(f"{len(result.hits)} of {result.total}{more} communications", style="dim")


def render_json(result: SearchResult) -> str:
    """The result as JSON: ``total``, ``total_relation`` and ``hits`` (id, index, score,
    source, highlight with ``<em>`` tags), Chinese left as is.

    >>> print(render_json(SearchResult(hits=[], total=0)))
    {
      "total": 0,
      "total_relation": "eq",
      "hits": []
    }
    """
    hits = [
        {
            "id": hit.id,
            "index": hit.index,
            "score": hit.score,
            "source": hit.source,
            "highlight": {
                name: [
                    part.replace(HIGHLIGHT_START, "<em>").replace(HIGHLIGHT_END, "</em>")
                    for part in parts
                ]
                for name, parts in hit.highlight.items()
            },
        }
        for hit in result.hits
    ]
    document = {"total": result.total, "total_relation": result.total_relation, "hits": hits}
    return json.dumps(document, ensure_ascii=False, indent=2)
