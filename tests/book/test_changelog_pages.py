"""The changelog page and "What's new": order, grouping, audience filter, and incremental rebuilds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from lxml import html as lxml_html

from hpc_handbook.book.changelog_pages import audience_list, human_date
from hpc_handbook.build import BookBuildError
from hpc_handbook.changelog.fragments import AUDIENCES, check_fragments

from .helpers import (
    EDITED_SENTENCE,
    NEW_FRAGMENT_DATE,
    NEW_FRAGMENT_NAME,
    OLD_FRAGMENT_NAME,
    Book,
    build,
    copy_book,
)

CHANGELOG = "book/reference/changelog"
HOME = "book/index"
CSS = Path(__file__).resolve().parents[2] / "src" / "hpc_handbook" / "book" / "static" / "handbook.css"


def tree(book: Book, docname: str) -> lxml_html.HtmlElement:
    return lxml_html.fromstring(book.page(docname))


def entry_ids(element: lxml_html.HtmlElement) -> list[str]:
    return [node.get("id") for node in element.find_class("handbook-changelog-entry")]


def test_changelog_lists_every_fragment_newest_first(default_book: Book) -> None:
    fragments = check_fragments(default_book.root / "changelog")
    page = tree(default_book, CHANGELOG)
    assert entry_ids(page) == [f"change-{f.entry_id}" for f in fragments]


def test_changelog_entries_show_date_type_and_audiences(default_book: Book) -> None:
    page = tree(default_book, CHANGELOG)
    entry = page.get_element_by_id("change-2026-11-25-site-profile")
    assert set(entry.get("class").split()) >= {"handbook-changelog-entry", "handbook-for-admin"}
    assert "handbook-for-novice" not in entry.get("class")
    text = entry.text_content()
    assert "25 November 2026" in text and "Added" in text and "Administrators" in text
    badges = [badge.text_content() for badge in entry.find_class("sd-badge")]
    assert badges == ["Added", "site", "Administrators"]


def test_changelog_offers_an_audience_filter_and_the_feeds(default_book: Book) -> None:
    page = tree(default_book, CHANGELOG)
    radios = page.xpath("//fieldset[@class='handbook-audience-filter']//input[@type='radio']")
    assert [radio.get("value") for radio in radios] == ["all", *AUDIENCES]
    assert [radio.get("value") for radio in radios if radio.get("checked") is not None] == ["all"]
    for radio in radios:
        assert page.xpath(f"//label[@for='{radio.get('id')}']"), "every choice needs a label"
    hrefs = [link.get("href") for link in page.find_class("handbook-changelog-feeds")[0].iter("a")]
    assert hrefs == [f"../../feeds/{name}.atom.xml" for name in ("all", *AUDIENCES)]


def test_filter_styles_cover_every_audience() -> None:
    css = CSS.read_text(encoding="utf-8")
    for audience in AUDIENCES:
        rule = (
            f"#handbook-audience-{audience}:checked) .handbook-changelog-entry:not(.handbook-for-{audience})"
        )
        assert rule in css, audience


def test_whats_new_shows_the_five_latest_for_users_on_the_home_page(default_book: Book) -> None:
    fragments = check_fragments(default_book.root / "changelog")
    for_users = [f for f in fragments if {"novice", "expert"} & set(f.meta.audiences)]
    assert len(for_users) < len(fragments), "every fragment is for users: the test proves nothing"
    items = tree(default_book, HOME).find_class("handbook-whats-new")[0].findall("li")
    assert len(items) == min(5, len(for_users))
    links = [item.find_class("handbook-whats-new-details")[0].get("href") for item in items]
    assert links == [f"reference/changelog.html#change-{f.entry_id}" for f in for_users[:5]]


def test_whats_new_takes_several_audiences_and_refuses_an_unknown_one() -> None:
    assert audience_list("novice, expert") == ["novice", "expert"]
    assert audience_list("admin") == ["admin"]
    for bad in ("novices", "", None):
        with pytest.raises(ValueError):
            audience_list(bad)


def test_whats_new_for_admins_is_on_the_admin_tracks_page_with_its_feed(default_book: Book) -> None:
    fragments = check_fragments(default_book.root / "changelog")
    for_admins = [f for f in fragments if "admin" in f.meta.audiences]
    page = tree(default_book, "book/operate/index")
    items = page.find_class("handbook-whats-new")[0].findall("li")
    links = [item.find_class("handbook-whats-new-details")[0].get("href") for item in items]
    assert links == [f"../reference/changelog.html#change-{f.entry_id}" for f in for_admins[:5]]
    assert page.xpath('//a[@href="../../feeds/admin.atom.xml"]'), "the admin page links the admins' feed"


def test_incremental_build_picks_up_new_and_edited_fragments(incremental_book: Book) -> None:
    page = tree(incremental_book, CHANGELOG)
    ids = entry_ids(page)
    new_id = f"change-{NEW_FRAGMENT_NAME.removesuffix('.md')}"
    old_id = f"change-{OLD_FRAGMENT_NAME.removesuffix('.md')}"
    assert ids[0] == new_id and ids[-1] == old_id
    assert EDITED_SENTENCE in page.text_content()
    home = tree(incremental_book, HOME).find_class("handbook-whats-new")[0]
    assert new_id in home.findall("li")[0].find_class("handbook-whats-new-details")[0].get("href")
    assert EDITED_SENTENCE not in incremental_book.first_feeds["all.atom.xml"].decode()
    assert EDITED_SENTENCE in incremental_book.feed("all").decode()


def test_incremental_build_rewrites_only_the_pages_that_show_fragments(incremental_book: Book) -> None:
    now = incremental_book.written()
    rewritten = {page for page, written in incremental_book.first_written.items() if now[page] != written}
    assert {f"{CHANGELOG}.html", f"{HOME}.html"} <= rewritten
    assert "book/reference/scope.html" not in rewritten
    assert "book/reference/limitations.html" not in rewritten


@pytest.mark.book
def test_a_bad_fragment_fails_a_strict_build_until_its_warning_is_silenced(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    root = copy_book(tmp_path / "book")
    (root / "changelog" / "2026-11-25-bad.md").write_text(
        "---\ndate: 2026-11-25\ntype: improved\naudiences: [novice]\ncomponent: docs\n---\nBad entry.\n",
        encoding="utf-8",
    )
    with pytest.raises(BookBuildError):
        build(root)
    output = capfd.readouterr()
    warnings = [line for line in (output.out + output.err).splitlines() if "WARNING" in line]
    assert any(
        "changelog fragment changelog/2026-11-25-bad.md at type: expected one of" in w for w in warnings
    )
    # Warnings are namespaced, so a site can silence this kind alone.
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    config["sphinx"]["config"].setdefault("suppress_warnings", []).append("handbook.changelog")
    (root / "_config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    html = build(root)
    assert "Bad entry." not in (html / f"{CHANGELOG}.html").read_text(encoding="utf-8")


def test_entries_are_grouped_by_month(incremental_book: Book) -> None:
    page = tree(incremental_book, CHANGELOG)
    months = page.find_class("handbook-changelog-month")
    ids = [month.get("id") for month in months]
    # Newest month first, from the fragment the scenario added down to its old one.
    assert ids[0] == f"changelog-{NEW_FRAGMENT_DATE[:7]}" and ids[-1] == "changelog-2026-10"
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert "changelog-2026-11" in ids
    headings = [month.find("h2").text_content().strip("#¶ ") for month in months]
    assert headings[ids.index("changelog-2026-11")] == "November 2026" and headings[-1] == "October 2026"
    assert entry_ids(months[-1]) == [f"change-{OLD_FRAGMENT_NAME.removesuffix('.md')}"]


def test_fragment_markup_is_rendered_and_escaped(incremental_book: Book) -> None:
    source = incremental_book.page(CHANGELOG)
    assert "<code" in source and ">python3<" in source
    assert "a &lt; b &amp; " in source and "&lt;experts&gt;" in source
    assert "<experts>" not in source


def test_human_dates_do_not_depend_on_the_locale() -> None:
    import datetime as dt

    assert human_date(dt.date(2026, 3, 7)) == "7 March 2026"
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]+ \d{4}", human_date(dt.date(2026, 12, 31)))
