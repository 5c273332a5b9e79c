"""The "Report a problem" links' new-issue addresses and the navigation's accessible names, offline."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from hpc_handbook.book.feedback import new_issue_url, repository_provider, tracker_kind
from hpc_handbook.book.theme import name_section_toggles


@pytest.mark.parametrize(
    ("tracker", "kind"),
    [
        ("https://git.example.org/hpc/handbook/-/issues", "gitlab"),
        ("https://git.example.org/group/sub/handbook/-/issues/", "gitlab"),
        ("https://github.com/centre/handbook/issues", "github"),
        ("https://code.example.net/docs/handbook/issues", "github"),  # Gitea and Forgejo
        ("https://helpdesk.example.org/new-ticket", None),
    ],
)
def test_tracker_kind_follows_the_address(tracker: str, kind: str | None) -> None:
    assert tracker_kind(tracker) == kind


def test_gitlab_issue_is_prefilled_with_title_and_description() -> None:
    url = new_issue_url(
        tracker_url="https://git.example.org/hpc/handbook/-/issues",
        kind="gitlab",
        title='Problem with the page "Log in & start"',
        description="Page: https://docs.example.org/a.html\n\nWhat happened?",
    )
    parts = urlsplit(url)
    assert parts.path == "/hpc/handbook/-/issues/new"
    assert parse_qs(parts.query) == {
        "issue[title]": ['Problem with the page "Log in & start"'],
        "issue[description]": ["Page: https://docs.example.org/a.html\n\nWhat happened?"],
    }


def test_github_issue_is_prefilled_with_title_and_body() -> None:
    url = new_issue_url(
        tracker_url="https://github.com/centre/handbook/issues/", kind="github", title="T", description="D"
    )
    assert url == "https://github.com/centre/handbook/issues/new?title=T&body=D"


def test_an_unknown_tracker_is_linked_as_it_is() -> None:
    tracker = "https://helpdesk.example.org/new-ticket"
    assert new_issue_url(tracker_url=tracker, kind=None, title="T", description="D") == tracker


@pytest.mark.parametrize(
    ("repository", "tracker", "provider"),
    [
        ("https://github.com/c/h", "https://github.com/c/h/issues", "github"),
        ("https://gitlab.com/c/h", "https://gitlab.com/c/h/-/issues", "gitlab"),
        ("https://git.rcc.example.org/hpc/h", "https://git.rcc.example.org/hpc/h/-/issues", "gitlab"),
        ("https://code.example.net/docs/h", "https://code.example.net/docs/h/issues", None),
    ],
)
def test_edit_links_need_a_forge_the_theme_knows(repository: str, tracker: str, provider: str | None) -> None:
    assert repository_provider(repository_url=repository, tracker_url=tracker) == provider


def test_each_navigation_toggle_is_named_after_its_section() -> None:
    markup = (
        '<li class="toctree-l1 has-children"><a class="reference internal" href="start/index.html">'
        "Getting <em>started</em> &amp; more</a><details><summary><span>v</span></summary></details></li>"
    )
    named = name_section_toggles(markup)
    assert '<summary aria-label="Pages of &quot;Getting started &amp; more&quot;">' in named
