"""What a reader sees at a desktop's and a phone's width, in both colour schemes: no page scrolls
sideways, code wraps, wide tables scroll in a labelled frame that keeps their first column, and
the screenshots of the service show their text at (nearly) the size it had on the screen."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import pytest

from .conftest import ServedBook

pytestmark = pytest.mark.browser

WIDTHS = (1280, 390)
SCHEMES = ("light", "dark")
#: The screenshots may be shown smaller than recorded, down to this share of their size.
MIN_SCREENSHOT_SCALE = 0.75
UI_SNAPSHOT = "book/start/images/ui-snapshot.json"

_LAYOUT = """() => ({
  scheme: document.documentElement.dataset.theme,
  page: document.scrollingElement.scrollWidth,
  window: window.innerWidth,
  code: Array.from(document.querySelectorAll('article pre'))
    .filter((pre) => pre.scrollWidth > pre.clientWidth + 1)
    .map((pre) => pre.innerText.split('\\n').reduce((a, b) => (b.length > a.length ? b : a), '')),
  shots: Array.from(document.querySelectorAll('figure.handbook-screenshot img'), (img) => ({
    src: img.getAttribute('src'), natural: img.naturalWidth, shown: img.getBoundingClientRect().width,
  })),
})"""


@pytest.fixture(
    scope="module", params=[(w, s) for w in WIDTHS for s in SCHEMES], ids=lambda p: f"{p[0]}px-{p[1]}"
)
def layouts(request: Any, browser: Any, served_book: ServedBook) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every page's layout at one width in one colour scheme."""
    width, scheme = request.param
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    found = {}
    for path in served_book.pages():
        if path == "index.html":
            continue  # only a redirect to book/index.html
        page.goto(served_book.url(path), wait_until="load")
        found[path] = page.evaluate(_LAYOUT)
    context.close()
    yield f"{width} px, {scheme}", found


def test_the_colour_scheme_follows_the_readers_system(layouts: tuple[str, dict[str, Any]]) -> None:
    where, found = layouts
    scheme = where.rsplit(" ", 1)[1]
    assert {layout["scheme"] for layout in found.values()} == {scheme}, where


def test_no_page_scrolls_sideways(layouts: tuple[str, dict[str, Any]]) -> None:
    where, found = layouts
    wide = {path: f"{seen['page']} px wide" for path, seen in found.items() if seen["page"] > seen["window"]}
    assert not wide, f"at {where}, pages wider than the window: {wide}"


def test_code_wraps_instead_of_scrolling(layouts: tuple[str, dict[str, Any]]) -> None:
    where, found = layouts
    scrolling = {path: layout["code"][:3] for path, layout in found.items() if layout["code"]}
    assert not scrolling, f"at {where}, code that scrolls sideways (longest line of each): {scrolling}"


def test_screenshots_show_their_text_at_nearly_its_recorded_size(
    layouts: tuple[str, dict[str, Any]], served_book: ServedBook
) -> None:
    where, found = layouts
    record = json.loads((served_book.book.root / UI_SNAPSHOT).read_text(encoding="utf-8"))
    scales = {picture["file"]: picture["scale"] for picture in record["pictures"].values()}
    shown = [(path, shot) for path, layout in found.items() for shot in layout["shots"]]
    assert len(shown) >= len(scales), f"at {where}, only {len(shown)} screenshots on the pages"
    small = []
    for path, shot in shown:
        recorded = scales[PurePosixPath(shot["src"]).name]
        scale = shot["shown"] / (shot["natural"] / recorded)
        if scale < MIN_SCREENSHOT_SCALE:
            small.append(f"{path}: {shot['src']} at {scale:.2f} of its recorded size")
    assert not small, f"at {where}: " + "; ".join(small)


@pytest.mark.parametrize("width", WIDTHS)
def test_wide_tables_scroll_in_a_labelled_frame_that_keeps_their_first_column(
    browser: Any, served_book: ServedBook, width: int
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto(served_book.url("book/reference/scope.html"))
        frames = page.evaluate(
            """() => Array.from(document.querySelectorAll('article .pst-scrollable-table-container'), (f) => {
                 const wide = f.scrollWidth > f.clientWidth + 1;
                 f.scrollLeft = f.scrollWidth;
                 const first = f.querySelector('tbody tr > :first-child').getBoundingClientRect().left;
                 return {role: f.getAttribute('role'), label: f.getAttribute('aria-label'),
                         tabindex: f.getAttribute('tabindex'), wide,
                         kept: Math.abs(first - f.getBoundingClientRect().left) < 2};
               })"""
        )
    finally:
        page.close()
    assert frames, "the scope page has no tables"
    assert any(frame["wide"] for frame in frames), f"no table is wider than the column at {width} px"
    for frame in frames:
        assert frame["role"] == "region" and frame["label"] and frame["label"].strip(), frame
        if frame["wide"]:
            # The theme's script leaves only the frames that scroll in the keyboard's tab order.
            assert frame["tabindex"] == "0", frame
            assert frame["kept"], f"the first column scrolled out of view: {frame}"
    labels = [frame["label"] for frame in frames]
    assert len(set(labels)) == len(labels), f"two tables share a name: {labels}"
