"""Docutils tables and paragraphs built from data files, and the reading of those files.

The nodes are built directly, not from generated MyST, so text from the probe or Slurm
needs no escaping: it can never be read as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from hpc_handbook.book.config import book_path
from hpc_handbook.errors import HandbookInputError

logger = logging.getLogger(__name__)

Data = TypeVar("Data")


def read_data(
    directive: SphinxDirective, config_name: str, load: Callable[[Path], Data | None], command: str
) -> Data | None:
    """Load the data file a setting names, noted as a dependency; warn and give None if missing or bad."""
    path = book_path(directive.env.app, config_name)
    directive.env.note_dependency(str(path))
    try:
        data = load(path)
    except HandbookInputError as error:
        problem = error.message
    else:
        if data is not None:
            return data
        problem = f"cannot read {path.name} (no such file)"
    logger.warning(
        "%s; run `%s`", problem, command, location=directive.get_location(), type="handbook", subtype="status"
    )
    return None


def _cell(value: Any) -> nodes.entry:
    entry = nodes.entry()
    if isinstance(value, nodes.Node):
        entry += value if isinstance(value, nodes.paragraph) else nodes.paragraph("", "", value)
    else:
        entry += nodes.paragraph("", "" if value is None else str(value))
    return entry


def code(text: str) -> nodes.literal:
    return nodes.literal(text, text)


def paragraph(*parts: str | nodes.Node) -> nodes.paragraph:
    """A paragraph of plain-text parts and inline nodes."""
    result = nodes.paragraph()
    for part in parts:
        result += nodes.Text(part) if isinstance(part, str) else part
    return result


def build_table(
    header: list[str], rows: list[list[Any]], *, classes: list[str], title: str = ""
) -> nodes.table:
    """A docutils table; cells are plain text or inline nodes, so site data needs no escaping."""
    table = nodes.table(classes=["handbook-status-table", *classes])
    if title:
        table += nodes.title(title, title)
    group = nodes.tgroup(cols=len(header))
    table += group
    for _ in header:
        group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    group += head
    head_row = nodes.row()
    head_row.extend(_cell(h) for h in header)
    head += head_row
    body = nodes.tbody()
    group += body
    for values in rows:
        row = nodes.row()
        row.extend(_cell(v) for v in values)
        body += row
    return table
