"""A reader's checks of the built book: no dead internal link; each example page says how it was checked."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat

from .helpers import REPO, SKIPPED_AT_TINY, Book, readable


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        for attribute in ("href", "src"):
            target = values.get(attribute)
            if target and not (tag == "link" and values.get("rel") in ("alternate",)):
                self.links.append(target)


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def test_no_internal_link_or_image_is_broken(default_book: Book) -> None:
    pages = {p: _parse(p) for p in default_book.html.rglob("*.html") if "_static" not in p.parts}
    broken = []
    for page, parsed in pages.items():
        for link in parsed.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith(("//", "mailto:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.exists():
                broken.append(f"{page.relative_to(default_book.html)} -> {link}")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if parts.fragment not in ids:
                    broken.append(f"{page.relative_to(default_book.html)} -> {link} (no such anchor)")
    assert not broken, "broken internal links:\n" + "\n".join(broken)


def _examples() -> dict[str, nbformat.NotebookNode]:
    return {p.stem: nbformat.read(p, as_version=4) for p in sorted((REPO / "examples").glob("*.ipynb"))}


def test_every_example_page_shows_its_verdict(default_book: Book) -> None:
    for name, notebook in _examples().items():
        page = default_book.page(f"examples/{name}")
        record = notebook.metadata["handbook_verification"]
        if record["result"] == "passed":
            assert "Verified at this site" in page and record["date"] in page, name
        else:
            assert "Not verified at this site" in page, name
            assert re.search(r"handbook-verification-(skipped|unverified)", page), name


def test_another_sites_book_shows_no_outputs_recorded_here(tiny_book: Book) -> None:
    for name in _examples():
        page = tiny_book.page(f"examples/{name}")
        assert not re.search(r'class="[^"]*\bcell_output\b', page), (
            f"{name} shows outputs recorded at another site"
        )
        assert "Not verified at this site" in page, name


def test_a_parameter_the_site_has_no_value_for_says_so(tiny_book: Book) -> None:
    page = readable(re.sub(r"<[^>]+>", "", tiny_book.page(f"examples/{SKIPPED_AT_TINY}")))
    assert "# gpu_partition: this site has none" in page
