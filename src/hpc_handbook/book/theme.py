"""Fixes to the theme's pages, found by loading the book in Chromium and running axe-core on it.

- pydata-sphinx-theme's script logs "Got invalid theme mode" on a reader's first visit when
  no colour mode is configured; "auto" (follow the reader's system) is what it falls back to.
- Sphinx 7.4 adds each inline script that an extension registers at `builder-inited` twice
  (once as `None`, once as `""`, which it does not see as the same file), so sphinx-thebe's
  `const THEBE_JS_URL` is declared twice and the second declaration throws on every page.
- The navigation's buttons that open a section have no name (axe: summary-name), and the
  search and colour-mode buttons' names leave out what they show (label-content-name-mismatch):
  `templates/` holds the handbook's versions of those two components.
- A table wider than the text column scrolls inside the theme's container, which a keyboard
  a screen reader does not name: each container becomes a region named after its caption, or
  its section and columns, in the tab order (the theme's script takes it out again where the
  table fits, so only a table that scrolls is a tab stop).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from markupsafe import Markup
from sphinx.application import Sphinx
from sphinx.config import Config

from hpc_handbook.book.generated import wording

TEMPLATES_DIR = str(Path(__file__).parent / "templates")
#: A navigation entry with pages below it, as pydata-sphinx-theme writes it: its link, then the
#: <details> whose <summary> opens it.
_SECTION = re.compile(
    r'(<a class="(?:current )?reference internal"[^>]*>(?P<title>.*?)</a>\s*<details[^>]*>\s*)<summary>', re.S
)
_TABLE = re.compile(r'<div class="pst-scrollable-table-container">(?P<table>\s*<table\b.*?</table>)', re.S)
_HEADING = re.compile(r"<h(?P<level>[1-6])\b[^>]*>(?P<title>.*?)</h(?P=level)>", re.S)
_CAPTION = re.compile(r"<caption\b[^>]*>(?P<text>.*?)</caption>", re.S)
_HEADER_ROW = re.compile(r"<thead\b.*?<tr\b[^>]*>(?P<row>.*?)</tr>", re.S)
_HEADER_CELL = re.compile(r"<th\b[^>]*>(?P<text>.*?)</th>", re.S)
#: How many column names a table's label lists.
LABEL_COLUMNS = 4


def configure_theme(app: Sphinx, config: Config) -> None:
    # pydata-sphinx-theme reads the mode from the page context, not from its theme options.
    config.html_context = {"default_mode": "auto", **(config.html_context or {})}
    if TEMPLATES_DIR not in config.templates_path:
        # First, so that the handbook's versions of the theme's components win.
        config.templates_path.insert(0, TEMPLATES_DIR)


@cache
def _section_toggle() -> str:
    return str(wording("theme.yml")["section_toggle"])


def name_section_toggles(markup: str) -> str:
    """Give each <summary> of the navigation the name of the section it opens."""

    def named(match: re.Match[str]) -> str:
        section = html.unescape(re.sub(r"<[^>]+>", "", match["title"])).strip()
        label = html.escape(_section_toggle().format(section=section), quote=True)
        return f'{match[1]}<summary aria-label="{label}">'

    return _SECTION.sub(named, markup)


def _text(markup: str) -> str:
    """The text of an HTML fragment, without the headings' "#" links."""
    markup = re.sub(r'<a class="headerlink".*?</a>', "", markup, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", markup)).split())


def _table_label(table: str, section: str) -> str:
    caption = _CAPTION.search(table)
    if caption and _text(caption["text"]):
        return _text(caption["text"])
    row = _HEADER_ROW.search(table)
    columns = [_text(cell["text"]) for cell in _HEADER_CELL.finditer(row["row"])] if row else []
    shown = ", ".join(columns[:LABEL_COLUMNS]) + (", …" if len(columns) > LABEL_COLUMNS else "")
    words = wording("theme.yml")
    return str(words["table_region"] if shown else words["table_region_plain"]).format(
        section=section, columns=shown
    )


def label_tables(body: str) -> str:
    """Make each table's scrolling container a focusable region, named after what the table holds."""
    headings = [(match.start(), _text(match["title"])) for match in _HEADING.finditer(body)]

    def labelled(match: re.Match[str]) -> str:
        section = next((title for start, title in reversed(headings) if start < match.start()), "")
        label = html.escape(_table_label(match["table"], section), quote=True)
        return (
            f'<div class="pst-scrollable-table-container" role="region" tabindex="0" aria-label="{label}">'
            f"{match['table']}"
        )

    return _TABLE.sub(labelled, body)


def label_table_regions(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    if isinstance(context.get("body"), str):
        context["body"] = label_tables(context["body"])


def _named_toctree(generate: Callable[..., str]) -> Callable[..., str]:
    def generate_named(*args: Any, **kwargs: Any) -> str:
        return Markup(name_section_toggles(str(generate(*args, **kwargs))))

    return generate_named


def _asset_key(asset: Any) -> tuple[Any, ...]:
    attributes = sorted((key, str(value)) for key, value in getattr(asset, "attributes", {}).items())
    return (getattr(asset, "filename", None) or "", getattr(asset, "priority", None), *attributes)


def _unique(assets: list[Any]) -> list[Any]:
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for asset in assets:
        key = _asset_key(asset)
        if key not in seen:
            seen.add(key)
            unique.append(asset)
    return unique


def drop_duplicate_assets(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    builder = app.builder
    # The builder restores each page's list from the `_orig_` copy, so that copy is fixed once; the
    # page's context holds the very list objects, so fixing them in place fixes this page too.
    for name in ("_orig_js_files", "_js_files", "_orig_css_files", "_css_files"):
        assets = getattr(builder, name, None)
        if isinstance(assets, list):
            assets[:] = _unique(assets)


def name_navigation(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    generate = context.get("generate_toctree_html")
    if callable(generate):
        context["generate_toctree_html"] = _named_toctree(generate)


def setup_theme(app: Sphinx) -> None:
    app.connect("config-inited", configure_theme)
    # Before the handlers that add a page's own scripts, which the builder checks for duplicates itself.
    app.connect("html-page-context", drop_duplicate_assets, priority=100)
    # After pydata-sphinx-theme has put its navigation function in the context (priority 500).
    app.connect("html-page-context", name_navigation, priority=600)
    app.connect("html-page-context", label_table_regions)
