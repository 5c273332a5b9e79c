"""An edit re-reads only the pages it changes, so rebuilding after editing a page stays quick."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from .helpers import build, copy_book

EDITED = "book/start/files"
#: Sphinx also rewrites the pages whose table of contents lists the edited one, and the index and search.
ALSO_WRITTEN = {"book/start/index.html", "book/index.html", "genindex.html", "search.html"}


def read_times(root: Path) -> dict[str, int]:
    """When the last build read each page, from the environment Sphinx pickled."""
    with (root / "_build" / ".doctrees" / "environment.pickle").open("rb") as file:
        return dict(pickle.load(file).all_docs)


def write_times(html: Path) -> dict[str, int]:
    return {str(page.relative_to(html)): page.stat().st_mtime_ns for page in html.rglob("*.html")}


def changed(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {name for name, time in after.items() if before.get(name) != time}


@pytest.mark.book
def test_editing_one_page_rereads_and_rewrites_only_that_page(tmp_path: Path) -> None:
    root = copy_book(tmp_path / "book")
    html = build(root)
    first = read_times(root)
    assert len(first) > 40, "the first build reads every page"
    build(root)
    unchanged, written = read_times(root), write_times(html)
    assert changed(first, unchanged) == set(), "a build with nothing changed re-reads pages"
    page = root / f"{EDITED}.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nOne more sentence.\n", encoding="utf-8")
    build(root)
    assert changed(unchanged, read_times(root)) == {EDITED}
    assert changed(written, write_times(html)) <= {f"{EDITED}.html", *ALSO_WRITTEN}
