"""The book builds with warnings as errors, renders every page, and follows the profile it is built for."""

from __future__ import annotations

import re

import pytest
import yaml

from .helpers import REPO, Book, default_site_leaks, readable

TINY_SITE_VALUES = ("Tiny Centre", "TNC", "help@tiny-centre.example.net", "tnc-python", "bigmem", "devel")


def toc_files(toc: dict) -> list[str]:
    files = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))
            walk(entry.get("chapters", []))

    walk(toc.get("parts", []))
    walk(toc.get("chapters", []))
    return files


def test_every_toc_entry_renders(default_book: Book) -> None:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    files = toc_files(toc)
    assert "book/operate/scorecard" in files
    for docname in files:
        docname = re.sub(r"\.(md|ipynb)$", "", docname)
        page = default_book.html / f"{docname}.html"
        assert page.is_file(), f"{docname} from _toc.yml did not render"
        assert "<h1" in page.read_text(encoding="utf-8"), f"{docname} has no title"


def test_tiny_profile_shows_its_own_values(tiny_book: Book) -> None:
    pages = readable(tiny_book.page("book/reference/scope") + tiny_book.page("book/index"))
    for value in TINY_SITE_VALUES:
        assert value in pages, value
    feed = tiny_book.feed("all").decode()
    assert "https://tiny-centre.example.net/handbook/feeds/all.atom.xml" in feed
    assert "tag:tiny-centre.example.net," in feed


#: Pages that show data recorded on the default site: example outputs and the probe's snapshot.
RECORDED_PAGES = ("examples/", "book/reference/status.html")


def test_tiny_profile_shows_none_of_the_default_sites_values(tiny_book: Book) -> None:
    leaks = {
        page: values
        for page, values in default_site_leaks(tiny_book).items()
        if not page.startswith(RECORDED_PAGES)
    }
    assert not leaks, f"the default site's values leak into another centre's book: {leaks}"


def test_recorded_pages_show_none_of_the_default_sites_values(tiny_book: Book) -> None:
    leaks = {
        page: values
        for page, values in default_site_leaks(tiny_book).items()
        if page.startswith(RECORDED_PAGES)
    }
    assert not leaks, f"recorded outputs of the default site appear in another centre's book: {leaks}"


@pytest.mark.parametrize(
    "page", ["book/reference/scope", "book/reference/limitations", "book/operate/scorecard"]
)
def test_service_pages_follow_the_tiny_profile(tiny_book: Book, page: str) -> None:
    text = tiny_book.page(page)
    assert "TNC" in text
    assert "largemem" not in text and "python3-batch" not in text
