"""Feedback on every page: "Report a problem with this page" and "Edit this page".

The report link opens a new issue on the profile's issue tracker, prefilled with the page's
title and published address; GitLab (`…/-/issues`) and GitHub-style trackers (`…/issues`:
GitHub, Gitea, Forgejo) take both in the new-issue address. The edit link is
sphinx-book-theme's, from the profile's repository. The wording is in `data/feedback.yml`.
"""

from __future__ import annotations

import html
import re
from functools import cache
from typing import Any, Literal
from urllib.parse import quote, urlencode, urljoin, urlsplit

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

from hpc_handbook.book.generated import wording
from hpc_handbook.book.site_values import get_profile

logger = logging.getLogger(__name__)

Tracker = Literal["gitlab", "github"]
#: The template at the foot of each article (pydata-sphinx-theme's article footer), in theme.py's folder.
TEMPLATE = "handbook-page-feedback.html"
#: The forges whose edit links sphinx-book-theme can build, by a word in their host name.
THEME_PROVIDERS = ("github", "gitlab", "bitbucket")


def tracker_kind(tracker_url: str) -> Tracker | None:
    """How the tracker takes a new issue's title and text, from the shape of its address."""
    path = urlsplit(tracker_url).path.rstrip("/")
    if path.endswith("/-/issues"):
        return "gitlab"
    if path.endswith("/issues"):
        return "github"
    return None


def new_issue_url(*, tracker_url: str, kind: Tracker | None, title: str, description: str) -> str:
    """The address that opens a new issue with this title and text (the tracker itself if unknown)."""
    if kind is None:
        return tracker_url
    fields = (
        {"issue[title]": title, "issue[description]": description}
        if kind == "gitlab"
        else {"title": title, "body": description}
    )
    return f"{tracker_url.rstrip('/')}/new?{urlencode(fields, quote_via=quote)}"


def repository_provider(*, repository_url: str, tracker_url: str) -> str | None:
    """The forge of the repository, as sphinx-book-theme names it; None where it has no edit links."""
    host = (urlsplit(repository_url).hostname or "").lower()
    for provider in THEME_PROVIDERS:
        if provider in host:
            return provider
    # A self-hosted GitLab: its tracker, on the same host, has GitLab's `/-/issues` address.
    if tracker_kind(tracker_url) == "gitlab" and urlsplit(tracker_url).hostname == host:
        return "gitlab"
    return None


@cache
def _texts() -> dict[str, Any]:
    return wording("feedback.yml")


def _plain(title: str) -> str:
    """A page title as text: Sphinx gives it as HTML, with markup such as <code>."""
    return html.unescape(re.sub(r"<[^>]+>", "", title)).strip()


def configure_theme(app: Sphinx, config: Config) -> None:
    """Turn on the edit link and the page footer from the profile's repository and tracker."""
    profile = get_profile(app)
    repository, tracker = str(profile.site.repository_url), str(profile.support.issue_tracker)
    options = config.html_theme_options = dict(config.html_theme_options or {})
    footer = list(options.get("article_footer_items") or [])
    if TEMPLATE not in footer:
        options["article_footer_items"] = [*footer, TEMPLATE]
    provider = repository_provider(repository_url=repository, tracker_url=tracker)
    if provider is None:
        logger.info(
            "handbook: no 'Edit this page' links: the theme builds them for GitHub, GitLab and "
            "Bitbucket only, and site.repository_url %s is none of them",
            repository,
        )
    else:
        options.update(repository_url=repository, repository_provider=provider, use_edit_page_button=True)
    if tracker_kind(tracker) is None:
        logger.warning(
            "site profile: support.issue_tracker %s is neither a GitLab tracker (…/-/issues) nor a "
            "GitHub-style one (…/issues), so 'Report a problem' links open it without the page's "
            "title and address",
            tracker,
            type="handbook",
            subtype="report",
        )


def add_feedback_links(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Give the page's footer template its prefilled new-issue address and its wording."""
    if doctree is None:
        return  # generated pages (search, index) have no source to report on
    profile = get_profile(app)
    texts = _texts()
    url = urljoin(str(profile.site.docs_url), app.builder.get_target_uri(pagename))
    facts = {"title": _plain(context.get("title", "")) or pagename, "url": url}
    tracker = str(profile.support.issue_tracker)
    context.update(
        handbook_feedback_label=texts["label"],
        handbook_report_text=texts["report"]["text"],
        handbook_edit_text=texts["edit"]["text"],
        handbook_report_url=new_issue_url(
            tracker_url=tracker,
            kind=tracker_kind(tracker),
            title=texts["report"]["issue_title"].format(**facts),
            description=texts["report"]["issue_description"].format(**facts),
        ),
    )


def setup_feedback(app: Sphinx) -> None:
    # After the profile is loaded (priority 400) and after Jupyter Book set the theme options.
    app.connect("config-inited", configure_theme, priority=600)
    app.connect("html-page-context", add_feedback_links)
