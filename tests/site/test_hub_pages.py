"""The hub's own pages on the real hub: the login page links the handbook before anyone logs in,
the home page shows the newest changes for users, and planned maintenance is announced on both
until its window ends."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from hpc_handbook.changelog.fragments import load_fragments
from hpc_handbook.hub.client import HubClient
from hpc_handbook.profile import Profile
from hpc_handbook.reference_site import hub_pages
from hpc_handbook.reference_site.hub import hub_url
from hpc_handbook.reference_site.lifecycle import up

pytestmark = [pytest.mark.site]


def quiet(message: str) -> None:
    pass


def test_the_login_page_links_the_handbook_before_login(site: Profile) -> None:
    page = requests.get(f"{hub_url(site)}/hub/login", timeout=30).text
    docs = str(site.site.docs_url)
    assert 'id="handbook-links"' in page
    for link in (docs, docs + "book/reference/status.html", docs + "book/reference/changelog.html"):
        assert f'href="{link}"' in page, link


def test_the_home_page_shows_the_newest_changes_for_users(
    site: Profile, novice: tuple[HubClient, str]
) -> None:
    client, _ = novice
    page = client.session.get(f"{client.url}/hub/home", timeout=30).text
    newest = next(
        f for f in load_fragments(hub_pages.changelog_dir()) if {"novice", "expert"} & set(f.meta.audiences)
    )
    assert 'id="handbook-whats-new"' in page
    assert newest.plain_text.split(".")[0] in page.replace("&#34;", '"').replace("&#39;", "'")
    assert f"#{newest.anchor}" in page


@pytest.fixture
def announced_maintenance(site: Profile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The changelog with a maintenance window under way and one that has ended, on the hub."""
    changelog = tmp_path / "changelog"
    shutil.copytree(hub_pages.changelog_dir(), changelog)
    now = dt.datetime.now().replace(second=0, microsecond=0)
    for name, start, end in (
        ("now", now - dt.timedelta(hours=1), now + dt.timedelta(hours=2)),
        ("over", now - dt.timedelta(days=2), now - dt.timedelta(days=1)),
    ):
        (changelog / f"{now.date().isoformat()}-maintenance-{name}.md").write_text(
            f"---\ndate: {now.date().isoformat()}\ntype: changed\naudiences: [novice, expert]\n"
            "component: site\n"
            f"maintenance: {{start: {start.isoformat()}, end: {end.isoformat()}}}\n---\n"
            f"The cluster is updated ({name}).\n"
        )
    monkeypatch.setattr(hub_pages, "changelog_dir", lambda: changelog)
    up(site, log=quiet)
    try:
        yield "The cluster is updated (now)."
    finally:
        monkeypatch.undo()
        up(site, log=quiet)


def test_planned_maintenance_is_announced_until_it_ends(
    site: Profile, announced_maintenance: str, novice: tuple[HubClient, str]
) -> None:
    login = requests.get(f"{hub_url(site)}/hub/login", timeout=30).text
    assert 'id="handbook-maintenance"' in login
    assert announced_maintenance in login
    assert "(over)" not in login
    client, _ = novice
    home = client.session.get(f"{client.url}/hub/home", timeout=30).text
    assert announced_maintenance in home and "(over)" not in home
