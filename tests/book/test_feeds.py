"""The Atom feeds: valid RFC 4287, stable across builds, filtered per audience, escaped, discoverable."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import urljoin

import feedparser
import pytest
from lxml import etree

from hpc_handbook.changelog.fragments import AUDIENCES, check_fragments

from .helpers import NEW_FRAGMENT_DATE, NEW_FRAGMENT_NAME, SCHEMAS, Book

ATOM = "{http://www.w3.org/2005/Atom}"
NS = {"atom": "http://www.w3.org/2005/Atom"}
FEED_NAMES = ("all", *AUDIENCES)
DOCS_URL = "https://docs.rcc.example.org/jupyter/"
# RFC 3339 date-time, as RFC 4287 section 3.3 requires: a "T" and an explicit offset.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# RFC 4151: tag:authority,date:specific
TAG_URI = re.compile(r"^tag:[a-z0-9.-]+,\d{4}(-\d{2}(-\d{2})?)?:[\x21-\x7e]+$")


@pytest.fixture(scope="module")
def relax_ng() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(SCHEMAS / "atom.rng")))


def parse(feed: bytes) -> etree._Element:
    return etree.fromstring(feed)


def assert_valid_atom(feed: bytes, relax_ng: etree.RelaxNG, *, docs_url: str = DOCS_URL) -> None:
    root = parse(feed)
    assert relax_ng.validate(root), relax_ng.error_log
    # The two Schematron rules of RFC 4287's schema, which RELAX NG itself ignores.
    assert root.xpath("atom:author or not(atom:entry[not(atom:author)])", namespaces=NS)
    for entry in root.iterfind(f"{ATOM}entry"):
        assert entry.xpath(
            "atom:link[@rel='alternate'] or atom:link[not(@rel)] or atom:content", namespaces=NS
        )
        assert entry.xpath("atom:author or ../atom:author or atom:source/atom:author", namespaces=NS)
    # What the schema leaves to the prose of RFC 4287.
    for element in root.iter(f"{ATOM}updated", f"{ATOM}published"):
        assert RFC3339.match(element.text), element.text
    ids = [element.text for element in root.iter(f"{ATOM}id")]
    assert len(ids) == len(set(ids)), "ids must be unique"
    for entry_id in root.xpath("atom:entry/atom:id/text()", namespaces=NS):
        assert TAG_URI.match(entry_id), entry_id
    assert root.findtext(f"{ATOM}id").startswith(docs_url)
    for link in root.iter(f"{ATOM}link"):
        assert link.get("href").startswith(docs_url), link.get("href")
    self_links = root.xpath("atom:link[@rel='self']/@href", namespaces=NS)
    assert self_links == [root.findtext(f"{ATOM}id")]
    # The feed changes only when an entry does: its date is the newest entry's.
    entry_dates = root.xpath("atom:entry/atom:updated/text()", namespaces=NS)
    if entry_dates:
        assert root.findtext(f"{ATOM}updated") == max(entry_dates)
    parsed = feedparser.parse(feed)
    assert not parsed.bozo, parsed.get("bozo_exception")


def test_the_schema_rejects_an_invalid_feed(relax_ng: etree.RelaxNG) -> None:
    """The validator is not vacuous: a feed without an id and with a bare date fails."""
    bad = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
        <updated>2026-11-25</updated><author><name>a</name></author></feed>"""
    assert not relax_ng.validate(parse(bad))


@pytest.mark.parametrize("name", FEED_NAMES)
def test_feeds_are_valid_atom(default_book: Book, relax_ng: etree.RelaxNG, name: str) -> None:
    assert_valid_atom(default_book.feed(name), relax_ng)


@pytest.mark.parametrize("name", FEED_NAMES)
def test_feeds_after_an_incremental_build_are_valid_atom(
    incremental_book: Book, relax_ng: etree.RelaxNG, name: str
) -> None:
    assert_valid_atom(incremental_book.feed(name), relax_ng)


def test_feeds_of_another_profile_are_valid_atom(tiny_book: Book, relax_ng: etree.RelaxNG) -> None:
    assert_valid_atom(tiny_book.feed("all"), relax_ng, docs_url="https://tiny-centre.example.net/handbook/")


def test_two_builds_write_byte_identical_feeds(default_book: Book, incremental_book: Book) -> None:
    # Two builds of the same sources, in different folders and at different times.
    assert incremental_book.first_feeds == default_book.feeds()
    assert set(incremental_book.first_feeds) == {f"{name}.atom.xml" for name in FEED_NAMES}


def test_feeds_hold_every_fragment_for_their_audience(default_book: Book) -> None:
    fragments = check_fragments(default_book.root / "changelog")
    for name in FEED_NAMES:
        root = parse(default_book.feed(name))
        entries = root.findall(f"{ATOM}entry")
        wanted = [f for f in fragments if name == "all" or name in f.meta.audiences]
        assert len(entries) == len(wanted), name
        for entry, fragment in zip(entries, wanted, strict=True):
            assert entry.findtext(f"{ATOM}id").endswith(f"/changelog/{fragment.entry_id}")
            terms = {category.get("term") for category in entry.iter(f"{ATOM}category")}
            if name != "all":
                assert name in terms, f"{fragment.filename} in the {name} feed is not for {name}"
            assert set(fragment.meta.audiences) <= terms


def test_admin_feed_has_only_admin_entries(default_book: Book) -> None:
    root = parse(default_book.feed("admin"))
    entries = root.findall(f"{ATOM}entry")
    assert entries
    for entry in entries:
        assert "admin" in {category.get("term") for category in entry.iter(f"{ATOM}category")}
    everything = parse(default_book.feed("all")).findall(f"{ATOM}entry")
    assert len(entries) < len(everything)


def test_entry_ids_and_dates_come_from_the_fragment(default_book: Book) -> None:
    entry = parse(default_book.feed("all")).find(
        f"{ATOM}entry[{ATOM}id='{_tag('2026-11-25-handbook-tracks')}']"
    )
    assert entry is not None
    assert entry.findtext(f"{ATOM}updated") == "2026-11-25T00:00:00+00:00"
    link = entry.find(f"{ATOM}link").get("href")
    assert link == f"{DOCS_URL}book/reference/changelog.html#change-2026-11-25-handbook-tracks"


def _tag(entry_id: str) -> str:
    return f"tag:docs.rcc.example.org,{entry_id[:10]}:/jupyter/changelog/{entry_id}"


def test_feed_text_is_escaped(incremental_book: Book) -> None:
    feed = incremental_book.feed("expert")
    root = parse(feed)
    entry = root.find(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}id") == _tag(NEW_FRAGMENT_NAME.removesuffix(".md"))
    # The title is plain text; the content is HTML whose own text is escaped once more in XML.
    assert (
        entry.findtext(f"{ATOM}title")
        == 'Changed: The python3 kernel now reports memory use when a < b & "c" holds, for <experts> only.'
    )
    content = entry.find(f"{ATOM}content")
    assert content.get("type") == "html"
    assert "<code>python3</code>" in content.text
    assert "a &lt; b &amp; &quot;c&quot; holds, for &lt;experts&gt; only" in content.text
    assert b"<experts>" not in feed


def test_new_fragment_is_newest_in_feed_after_incremental_build(incremental_book: Book) -> None:
    root = parse(incremental_book.feed("all"))
    assert root.findtext(f"{ATOM}updated") == f"{NEW_FRAGMENT_DATE}T00:00:00+00:00"
    assert root.find(f"{ATOM}entry").findtext(f"{ATOM}id") == _tag(NEW_FRAGMENT_NAME.removesuffix(".md"))
    admin_ids = parse(incremental_book.feed("admin")).xpath("atom:entry/atom:id/text()", namespaces=NS)
    assert _tag("2026-10-02-older-change") == admin_ids[-1]


def test_every_page_links_the_feeds(default_book: Book) -> None:
    pages = [p for p in default_book.html.rglob("*.html") if "_static" not in p.parts]
    assert len(pages) > 5
    for page in pages:
        text = page.read_text(encoding="utf-8")
        if 'http-equiv="Refresh"' in text:
            continue  # the redirect that Jupyter Book writes as the top index.html
        links = re.findall(
            r'<link rel="alternate" type="application/atom\+xml" title="([^"]*)" href="([^"]*)"', text
        )
        assert len(links) == len(FEED_NAMES), page
        for _, href in links:
            target = Path(urljoin(page.as_uri(), html.unescape(href)).removeprefix("file://"))
            assert target.is_file(), f"{page}: {href}"
