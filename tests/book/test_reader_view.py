"""Screenshots, tables and code as the built pages give them to a reader's browser."""

from __future__ import annotations

import re

from lxml import html as lxml_html

from hpc_handbook.book.screenshots import FULL_VIEW_DIR, MIN_SCALE, picture_width
from hpc_handbook.book.theme import label_tables, name_section_toggles
from hpc_handbook.data.ui_snapshot import Picture, load_ui_snapshot

from .helpers import REPO, Book

LOG_IN = "book/start/log-in"


def test_a_picture_is_shown_at_its_size_and_never_below_three_quarters_of_it() -> None:
    picture = Picture(file="a.png", full_view="a-full.png", scale=2, width=500, height=300)
    assert picture_width(picture) == f"clamp({round(500 * MIN_SCALE)}px, 100%, 500px)"


def test_the_log_in_page_shows_every_recorded_picture_at_its_size_opening_the_whole_window(
    default_book: Book,
) -> None:
    record = load_ui_snapshot(REPO / "book/start/images/ui-snapshot.json")
    page = lxml_html.fromstring(default_book.page(LOG_IN))
    figures = page.xpath('//figure[contains(@class, "handbook-screenshot")]')
    shown = {}
    for figure in figures:
        image = figure.xpath(".//img")[0]
        name = image.get("src").rsplit("/", 1)[1]
        shown[name] = image
        assert image.get("alt", "").strip(), f"{name} has no alt text"
        links = {a.get("href") for a in figure.xpath(".//a")}
        assert len(links) == 1, links
        full = (default_book.html / "book/start" / links.pop()).resolve()
        assert full.parent == (default_book.html / FULL_VIEW_DIR).resolve() and full.is_file(), full
    assert set(shown) == {picture.file for picture in record.pictures.values()}
    for picture in record.pictures.values():
        assert picture_width(picture) in shown[picture.file].get("style"), picture.file


def test_a_table_frame_is_a_region_named_by_its_caption_or_its_section_and_columns() -> None:
    body = (
        '<h2>Choose a place<a class="headerlink" href="#x">#</a></h2>'
        '<div class="pst-scrollable-table-container"><table class="table">'
        "<thead><tr><th><p>Partition</p></th><th>System</th><th>Purpose</th><th>Jupyter</th>"
        "<th>Max nodes</th></tr></thead><tbody></tbody></table></div>"
        '<div class="pst-scrollable-table-container"><table><caption>Kernels &amp; roles</caption>'
        "<tbody><tr><td>a</td></tr></tbody></table></div>"
    )
    labelled = label_tables(body)
    labels = re.findall(r'role="region" tabindex="0" aria-label="([^"]*)"', labelled)
    assert labels == [
        "Table in “Choose a place”: Partition, System, Purpose, Jupyter, …",
        "Kernels &amp; roles",
    ]
    assert labelled.count("<table") == 2 and "Max nodes" in labelled


def test_the_open_sections_toggle_in_the_navigation_has_a_name_too() -> None:
    markup = (
        '<a class="current reference internal" href="#">Getting started</a>'
        '<details open="open"><summary><span class="toctree-toggle"></span></summary>'
    )
    assert '<summary aria-label="Pages of &quot;Getting started&quot;">' in name_section_toggles(markup)


def test_the_doc_ci_page_shows_the_recorded_alert_and_another_centre_none(
    default_book: Book, tiny_book: Book
) -> None:
    from hpc_handbook.data.alert_example import load_alert_example

    recorded = load_alert_example(REPO / "book/data/alert-example.json")
    page = " ".join(lxml_html.fromstring(default_book.page("book/operate/doc-ci")).text_content().split())
    for shown in (
        recorded.email.headers["Subject"],
        recorded.email.body.splitlines()[0],
        recorded.chat.splitlines()[0],
        f"Recorded on {recorded.date} at {recorded.site}",
    ):
        assert " ".join(shown.split()) in page, shown
    for name in recorded.email.attachments:
        assert f"The report attached to it, {name}" in page
    tiny = " ".join(lxml_html.fromstring(tiny_book.page("book/operate/doc-ci")).text_content().split())
    assert "No alert has been recorded at TNC yet" in tiny and recorded.email.headers["Subject"] not in tiny
