"""The built book as a reader's browser shows it: every page loads cleanly, search and the
changelog filter work, the feeds are advertised, a phone can read it, and every page invites
its readers to report a problem."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from .conftest import ServedBook

pytestmark = pytest.mark.browser

#: Pages Sphinx writes with no source of their own: no "Report a problem" or "Edit this page".
GENERATED_PAGES = {"genindex.html", "search.html", "index.html"}
#: A word only a novice page's text explains, and the page search must find it on.
NOVICE_WORD, NOVICE_PAGE = "spawn", "book/start/log-in.html"
#: Sphinx's search lists the results one by one, every few milliseconds, then says it has finished.
SEARCH_FINISHED = (
    "() => (document.querySelector('#search-results .search-summary')?.innerText || '')"
    ".startsWith('Search finished')"
)
RECIPE_PAGE = "examples/recipe-venv-kernel.html"
PHONE = {"width": 375, "height": 740}

#: Every id in the page and every same-site link, as the live page has them after its scripts ran.
_PAGE_FACTS = """() => ({
  ids: Array.from(document.querySelectorAll('[id]'), e => e.id),
  names: Array.from(document.querySelectorAll('a[name]'), e => e.name),
  links: Array.from(document.querySelectorAll('a[href]'), a => a.href)
    .filter(href => href.startsWith(location.origin)),
})"""


@dataclass
class PageVisit:
    """What one page did while it loaded."""

    problems: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)


@dataclass
class Crawl:
    """Every page of the book, loaded once; the tests below check what was recorded."""

    visits: dict[str, PageVisit]
    report_links: dict[str, str]
    edit_links: dict[str, str]
    titles: dict[str, str]


def _watch(page: Any, base_url: str, sink: list[str]) -> None:
    def console(message: Any) -> None:
        if message.type == "error":
            sink.append(f"console error: {message.text}")

    def failed(request: Any) -> None:
        # Leaving a page that redirects aborts its own navigation; that is no failed resource.
        if request.resource_type == "document" and request.failure == "net::ERR_ABORTED":
            return
        sink.append(f"{request.resource_type} {request.url} failed: {request.failure}")

    def response(response: Any) -> None:
        if response.status >= 400:
            sink.append(f"{response.request.resource_type} {response.url}: HTTP {response.status}")

    def request(request: Any) -> None:
        # Chromium resolves no other host (CHROMIUM_ARGS in hpc_handbook.browser); this says
        # which page asked.
        if not request.url.startswith(base_url):
            sink.append(f"{request.resource_type} from outside the book: {request.url}")

    page.on("console", console)
    page.on("pageerror", lambda error: sink.append(f"script error: {error}"))
    page.on("requestfailed", failed)
    page.on("response", response)
    page.on("request", request)


@pytest.fixture(scope="module")
def crawl(browser: Any, served_book: ServedBook) -> Iterator[Crawl]:
    context = browser.new_context()
    page = context.new_page()
    sink: list[str] = []
    _watch(page, served_book.base_url, sink)
    visits, report_links, edit_links, titles = {}, {}, {}, {}
    for path in served_book.pages():
        sink.clear()
        page.goto(served_book.url(path), wait_until="load")
        refresh = page.locator("meta[http-equiv=Refresh i]")
        if refresh.count():
            # The book's root only redirects; what matters is that its target loads.
            target = refresh.get_attribute("content").split("url=", 1)[1]
            page.wait_for_url(f"**/{target}")
            page.wait_for_load_state("load")
            sink.clear()
        facts = page.evaluate(_PAGE_FACTS)
        visits[path] = PageVisit(
            problems=list(sink), ids={*facts["ids"], *facts["names"]}, links=facts["links"]
        )
        report = page.locator("a.handbook-report-problem")
        if report.count():
            report_links[path] = report.get_attribute("href")
        edit = page.locator("a.handbook-edit-page")
        if edit.count():
            edit_links[path] = edit.get_attribute("href")
        heading = page.locator("article h1").first
        if heading.count():
            titles[path] = re.sub(r"\s*#\s*$", "", heading.inner_text()).strip()
    yield Crawl(visits=visits, report_links=report_links, edit_links=edit_links, titles=titles)
    context.close()


def test_every_page_loads_without_errors_or_failed_requests(crawl: Crawl) -> None:
    assert len(crawl.visits) > 30, f"only {len(crawl.visits)} pages were found"
    problems = {path: visit.problems for path, visit in crawl.visits.items() if visit.problems}
    assert not problems, "pages with problems:\n" + "\n".join(
        f"{path}:\n  " + "\n  ".join(found) for path, found in problems.items()
    )


def test_no_in_page_anchor_is_broken(crawl: Crawl, served_book: ServedBook) -> None:
    broken = []
    for path, visit in crawl.visits.items():
        for link in visit.links:
            parts = urlsplit(link)
            if not parts.fragment:
                continue
            target = unquote(parts.path).lstrip("/") or "index.html"
            if target.endswith("/"):
                target += "index.html"
            if not target.endswith(".html"):
                continue  # a feed or a notebook download: no anchors to check
            if target not in crawl.visits:
                broken.append(f"{path} -> {link} (no such page)")
            elif unquote(parts.fragment) not in crawl.visits[target].ids:
                broken.append(f"{path} -> {link} (no element with id {unquote(parts.fragment)!r})")
    assert not broken, "broken anchors:\n" + "\n".join(broken)


def test_search_finds_a_word_from_a_novice_page(browser: Any, served_book: ServedBook) -> None:
    page = browser.new_page()
    try:
        page.goto(served_book.url(f"search.html?q={NOVICE_WORD}"))
        results = page.locator("#search-results ul.search li a")
        page.wait_for_function(SEARCH_FINISHED, timeout=30_000)
        found = [
            urlsplit(href).path.lstrip("/") for href in results.evaluate_all("as => as.map(a => a.href)")
        ]
    finally:
        page.close()
    assert NOVICE_PAGE in found, f"searching {NOVICE_WORD!r} found {found}, not {NOVICE_PAGE}"


def _visible_entries(page: Any) -> dict[str, list[str]]:
    """The changelog entries a reader sees now, each with its audiences."""
    return page.evaluate(
        """() => Object.fromEntries(Array.from(document.querySelectorAll('.handbook-changelog-entry'))
             .filter(e => e.offsetParent !== null)
             .map(e => [e.id, Array.from(e.classList).filter(c => c.startsWith('handbook-for-'))
                                  .map(c => c.slice('handbook-for-'.length))]))"""
    )


def test_changelog_audience_filter_hides_and_shows_entries(browser: Any, served_book: ServedBook) -> None:
    page = browser.new_page()
    try:
        page.goto(served_book.url("book/reference/changelog.html"))
        everything = _visible_entries(page)
        total = page.locator(".handbook-changelog-entry").count()
        assert total and len(everything) == total, "with 'Everyone' chosen, every entry is shown"
        narrowed = {}
        for audience in ("novice", "expert", "admin"):
            page.locator(f"label[for=handbook-audience-{audience}]").click()
            shown = _visible_entries(page)
            assert all(audience in audiences for audiences in shown.values()), (audience, shown)
            expected = {entry for entry, audiences in everything.items() if audience in audiences}
            assert set(shown) == expected, f"{audience}: shown {sorted(shown)}, expected {sorted(expected)}"
            narrowed[audience] = len(shown)
        assert min(narrowed.values()) < total, f"no audience hides anything: {narrowed} of {total}"
        page.locator("label[for=handbook-audience-all]").click()
        assert len(_visible_entries(page)) == total, "choosing 'Everyone' again shows every entry"
    finally:
        page.close()


def test_landing_page_advertises_the_atom_feeds(browser: Any, served_book: ServedBook) -> None:
    page = browser.new_page()
    try:
        page.goto(served_book.url("index.html"))
        page.wait_for_url("**/book/index.html")
        advertised = page.locator('link[rel=alternate][type="application/atom+xml"]')
        hrefs = advertised.evaluate_all("links => links.map(l => l.href)")
        visible = page.locator('article a[href$=".atom.xml"]')
        assert visible.count() and visible.first.is_visible(), "no visible link to a feed on the landing page"
        for href in {*hrefs, *visible.evaluate_all("links => links.map(a => a.href)")}:
            feed = page.request.get(href)
            assert feed.ok, f"{href}: HTTP {feed.status}"
            assert "<feed" in feed.text() and "http://www.w3.org/2005/Atom" in feed.text(), href
    finally:
        page.close()
    assert any(href.endswith("/feeds/all.atom.xml") for href in hrefs), hrefs


@pytest.mark.parametrize("path", ["book/index.html", RECIPE_PAGE])
def test_page_is_readable_at_a_phones_width(browser: Any, served_book: ServedBook, path: str) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(served_book.url(path))
        sizes = page.evaluate(
            """() => ({scroll: document.scrollingElement.scrollWidth, inner: window.innerWidth,
                      text: document.querySelector('article.bd-article').getBoundingClientRect().right})"""
        )
    finally:
        context.close()
    assert sizes["scroll"] <= sizes["inner"], f"{path} scrolls sideways at {PHONE['width']} px: {sizes}"
    assert sizes["text"] <= sizes["inner"], f"{path}'s text column is wider than the screen: {sizes}"


def test_every_page_has_a_report_link_prefilled_with_its_title(crawl: Crawl) -> None:
    pages = set(crawl.visits) - GENERATED_PAGES
    assert pages - set(crawl.report_links) == set(), "pages without a report link"
    for path in pages:
        query = parse_qs(urlsplit(crawl.report_links[path]).query)
        assert crawl.titles[path] in query["issue[title]"][0], (path, query)
        assert query["issue[description]"][0].startswith(f"Page: https://docs.rcc.example.org/jupyter/{path}")


def test_every_page_has_an_edit_link_to_its_source(crawl: Crawl, served_book: ServedBook) -> None:
    pages = set(crawl.visits) - GENERATED_PAGES
    assert pages - set(crawl.edit_links) == set(), "pages without an edit link"
    for path in pages:
        href = crawl.edit_links[path]
        prefix = "https://git.rcc.example.org/hpc/jupyter-handbook/-/edit/main/"
        assert href.startswith(prefix), href
        source = href.removeprefix(prefix)
        assert (served_book.book.root / source).is_file(), f"{path} edits {source}, which does not exist"


def test_following_the_report_link_opens_an_issue_that_names_the_page(
    browser: Any, served_book: ServedBook
) -> None:
    page = browser.new_page()
    opened: list[str] = []

    def tracker(route: Any) -> None:
        # The tracker is not reachable from a test: answer for it, and keep the address asked for.
        opened.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<title>New issue</title>")

    try:
        page.route("https://git.rcc.example.org/**", tracker)
        page.goto(served_book.url(NOVICE_PAGE))
        title = re.sub(r"\s*#\s*$", "", page.locator("article h1").first.inner_text()).strip()
        page.get_by_role("link", name="Report a problem with this page").click()
        page.wait_for_url("https://git.rcc.example.org/**")
    finally:
        page.close()
    assert len(opened) == 1, opened
    parts = urlsplit(opened[0])
    assert parts.path == "/hpc/jupyter-handbook/-/issues/new", opened[0]
    query = parse_qs(parts.query)
    assert query["issue[title]"] == [f'Problem with the page "{title}"'], query
    assert f"https://docs.rcc.example.org/jupyter/{NOVICE_PAGE}" in query["issue[description]"][0]
