"""Atom feeds of the changelog: one with every change and one per audience.

A feed must not change unless a fragment does, or feed readers show old news as new:
entry ids are tag: URIs made from the fragment's file name, `updated` is the fragment's
date, and the feed's `updated` is its newest entry's date, never the build time.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from feedgen.feed import FeedGenerator
from markdown_it import MarkdownIt
from sphinx.application import Sphinx
from sphinx.util import logging

from hpc_handbook import __version__
from hpc_handbook.book.changelog_pages import WEB_BUILDERS, change_anchor, feed_path, loaded_fragments
from hpc_handbook.book.site_values import get_profile
from hpc_handbook.book.state import changelog_page
from hpc_handbook.changelog.fragments import AUDIENCE_TITLES, AUDIENCES, TYPE_TITLES, Fragment
from hpc_handbook.profile import Profile

logger = logging.getLogger(__name__)

ATOM_MEDIA_TYPE = "application/atom+xml"
TITLE_LENGTH = 100
_MARKDOWN = MarkdownIt("commonmark", {"html": False})


def docs_base(profile: Profile) -> str:
    """The published handbook's URL, ending in a slash so relative paths join onto it."""
    url = str(profile.site.docs_url)
    return url if url.endswith("/") else url + "/"


def entry_id(fragment: Fragment, *, profile: Profile) -> str:
    """A tag: URI (RFC 4151) for one change: stable across rebuilds and page moves."""
    parts = urlsplit(docs_base(profile))
    return f"tag:{parts.hostname},{fragment.meta.date.isoformat()}:{parts.path}changelog/{fragment.entry_id}"


def plain_text(fragment: Fragment) -> str:
    """The fragment's text without Markdown markup, for titles."""
    return fragment.plain_text


def entry_title(fragment: Fragment) -> str:
    """The change type and the first sentence, short enough for a feed reader's list."""
    first = re.split(r"(?<=[.!?])\s", plain_text(fragment), maxsplit=1)[0]
    if len(first) > TITLE_LENGTH:
        first = first[: TITLE_LENGTH - 1].rsplit(" ", 1)[0] + "…"
    return f"{TYPE_TITLES[fragment.meta.type]}: {first}"


def entry_html(fragment: Fragment) -> str:
    audiences = ", ".join(AUDIENCE_TITLES[a] for a in fragment.meta.audiences)
    return (
        _MARKDOWN.render(fragment.shown_text)
        + f"<p>For: {audiences}. Component: {fragment.meta.component}.</p>"
    )


def as_datetime(date: dt.date) -> dt.datetime:
    return dt.datetime.combine(date, dt.time(), tzinfo=dt.UTC)


def feed_title(profile: Profile, audience: str | None) -> str:
    who = "" if audience is None else f" for {AUDIENCE_TITLES[audience].lower()}"
    return f"Jupyter at {profile.site.short_name}: changes{who}"


def build_feed(
    fragments: Sequence[Fragment], *, profile: Profile, audience: str | None, changelog_path: str | None
) -> bytes:
    """Render one Atom feed; `audience=None` keeps every change.

    `changelog_path` is the changelog page's path below the docs URL; entries link to their
    anchor there. `fragments` must not be empty: the feed's date comes from them.
    """
    base = docs_base(profile)
    selected = [f for f in fragments if audience is None or audience in f.meta.audiences]
    # An audience with no changes yet still gets a valid, stable feed: dated by the newest change of all.
    newest = max(f.meta.date for f in (selected or fragments))
    page_url = base + (changelog_path or "")

    feed = FeedGenerator()
    feed.id(base + feed_path(audience))
    feed.title(feed_title(profile, audience))
    feed.subtitle(f"Changes to the Jupyter service of the {profile.site.name} and to its handbook.")
    feed.author({"name": profile.site.name, "email": profile.support.email})
    feed.link(href=base + feed_path(audience), rel="self", type=ATOM_MEDIA_TYPE)
    feed.link(href=page_url, rel="alternate", type="text/html")
    feed.language("en")
    feed.generator("hpc-handbook", version=__version__)
    feed.updated(as_datetime(newest))
    for fragment in selected:
        entry = feed.add_entry(order="append")
        entry.id(entry_id(fragment, profile=profile))
        entry.title(entry_title(fragment))
        entry.updated(as_datetime(fragment.meta.date))
        entry.published(as_datetime(fragment.meta.date))
        link = f"{page_url}#{change_anchor(fragment)}" if changelog_path else base
        entry.link(href=link, rel="alternate", type="text/html")
        entry.content(entry_html(fragment), type="html")
        for audience_of_entry in fragment.meta.audiences:
            entry.category(term=audience_of_entry, label=AUDIENCE_TITLES[audience_of_entry])
        entry.category(term=fragment.meta.type, label=TYPE_TITLES[fragment.meta.type])
        entry.category(term=fragment.meta.component, label=f"Component: {fragment.meta.component}")
    return feed.atom_str(pretty=True)


def write_feeds(app: Sphinx, exception: Exception | None) -> None:
    """Write feeds/all.atom.xml and one feed per audience into the HTML output."""
    if exception is not None or app.builder.name not in WEB_BUILDERS:
        return
    fragments = loaded_fragments(app)
    if not fragments:
        logger.info("no changelog fragments; no feeds written")
        return
    page = changelog_page(app.env)
    if page is None:
        logger.warning(
            "no page has a changelog directive; feed entries link to the handbook's start page",
            type="handbook",
            subtype="feed",
        )
    changelog_path = app.builder.get_target_uri(page) if page else None
    profile = get_profile(app)
    for audience in (None, *AUDIENCES):
        target = Path(app.outdir) / feed_path(audience)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(
            build_feed(fragments, profile=profile, audience=audience, changelog_path=changelog_path)
        )


def add_feed_links(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Let browsers and feed readers discover the feeds from any page."""
    if app.builder.name not in WEB_BUILDERS or not loaded_fragments(app):
        return
    profile = get_profile(app)
    pathto = context["pathto"]
    tags = [
        f'<link rel="alternate" type="{ATOM_MEDIA_TYPE}" '
        f'title="{html.escape(feed_title(profile, audience))}" '
        f'href="{html.escape(pathto(feed_path(audience), 1))}" />'
        for audience in (None, *AUDIENCES)
    ]
    context["metatags"] = context.get("metatags", "") + "\n" + "\n".join(tags)


def setup_feeds(app: Sphinx) -> None:
    app.connect("html-page-context", add_feed_links)
    app.connect("build-finished", write_feeds)
