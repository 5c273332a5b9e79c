"""The text the prose check reads: every page and every notebook cell, as its reader sees it.

Markdown (pages and notebooks' Markdown cells) has its site facts filled in first, so a
fact is checked where it is used; code cells are read as written. Outputs are not read:
they are what the site printed, and the doc CI compares them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hpc_handbook.site_facts.markup import render
from hpc_handbook.site_facts.vocabulary import Vocabulary

#: Who fixes a page that is not an example: by folder, longest match first (`book/data/page-owners.yml`).
OWNERS_FILE = Path("book/data/page-owners.yml")
#: A line the check skips, for a sentence that names what the site lacks on purpose.
IGNORE_MARKER = "prose-check: ignore"


@dataclass
class Passage:
    """One page, or one cell of a notebook, ready to be checked."""

    page: str
    owner: str
    #: The text after its facts were filled in.
    lines: list[str]
    #: The line number of the passage's first line on the page (1-based); for a cell, within the cell.
    first_line: int = 1
    cell: int | None = None
    code: bool = False
    #: (line, key, reason) of facts the site does not have, and (line, snippet) of unfilled placeholders.
    unknown_facts: list[tuple[int, str, str]] = field(default_factory=list)
    unfilled: list[tuple[int, str]] = field(default_factory=list)

    def location(self, index: int) -> str:
        """`line N` or `cell C, line N` for the passage's line `index` (0-based)."""
        line = self.first_line + index
        return f"cell {self.cell}, line {line}" if self.cell is not None else f"line {line}"


def page_owners(root: Path) -> dict[str, str]:
    path = root / OWNERS_FILE
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): str(v) for k, v in (data.get("owners") or {}).items()}


def owner_of(page: str, owners: dict[str, str]) -> str:
    matches = [prefix for prefix in owners if page.startswith(prefix)]
    return owners[max(matches, key=len)] if matches else ""


def _markdown(page: str, owner: str, text: str, vocabulary: Vocabulary, cell: int | None = None) -> Passage:
    rendered = render(text, vocabulary)
    return Passage(
        page=page,
        owner=owner,
        lines=rendered.text.splitlines(),
        cell=cell,
        unknown_facts=rendered.unknown,
        unfilled=rendered.unfilled,
    )


def book_passages(root: Path, vocabulary: Vocabulary, pages: list[str] | None = None) -> Iterator[Passage]:
    """Every Markdown page under `book/` and every example notebook's cells, in path order."""
    owners = page_owners(root)
    for path in sorted((root / "book").rglob("*.md")):
        page = path.relative_to(root).as_posix()
        if "_build" in path.parts or (pages is not None and page not in pages):
            continue
        yield _markdown(page, owner_of(page, owners), path.read_text(encoding="utf-8"), vocabulary)
    for path in sorted((root / "examples").glob("*.ipynb")):
        page = path.relative_to(root).as_posix()
        if pages is None or page in pages:
            yield from notebook_passages(path, page, vocabulary)


def notebook_passages(path: Path, page: str, vocabulary: Vocabulary) -> Iterator[Passage]:
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # the doc CI's contract check names a notebook it cannot read
    owner = str(((notebook.get("metadata") or {}).get("handbook") or {}).get("owner", ""))
    for index, cell in enumerate(notebook.get("cells", [])):
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        if cell.get("cell_type") == "markdown":
            yield _markdown(page, owner, text, vocabulary, cell=index)
        elif cell.get("cell_type") == "code":
            yield Passage(page=page, owner=owner, lines=text.splitlines(), cell=index, code=True)
