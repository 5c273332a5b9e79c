"""Every example page's "Open on the hub" link works on the reference site, followed as a browser does.

The doc CI's check follows each link as its account: the hub's launch handler, the spawn
through the URL, the wait page, nbgitpuller's pull from the handbook's repository (the
site's mirror of it) and the notebook page. A link the site cannot serve gets the spawn form
with the reason and the form's defaults, or the hub's error page.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from conftest import REPO, wait_until

from hpc_handbook.doc_ci.run.launch_check import check_launch_links
from hpc_handbook.examples.contract import discover_examples
from hpc_handbook.examples.launch_link import launch_link
from hpc_handbook.hub.client import HubClient
from hpc_handbook.hub.launch import LAUNCH_PATH
from hpc_handbook.profile import Profile

pytestmark = [pytest.mark.site]


def home_of(site: Profile, user: str) -> Path:
    pattern = next(f.path for f in site.filesystems if f.name == "home")
    return Path(pattern.replace("$USER", user))


def test_every_pages_link_starts_its_place_and_opens_its_notebook(site: Profile) -> None:
    assert site.hub is not None
    examples = discover_examples(REPO / "examples", site)
    report = check_launch_links(site, examples, run_id=f"links-test:{os.getpid()}")
    by_status = {
        status: [r for r in report.results if r.status == status] for status in ("passed", "skipped")
    }
    assert report.failed == [], "\n".join(f"{r.example}: {r.reason}" for r in report.failed)
    assert len(report.results) == len(examples)
    assert all(r.reason for r in by_status["skipped"]), "a page without a link says why"
    # Both kinds of place were followed: the login node and a partition's job.
    assert {r.partition for r in by_status["passed"]} >= {None, "batch"}
    # The run left nothing: no launched server, no clone in the account's home.
    user = site.hub.doc_ci_user
    with HubClient.with_token(str(site.hub.url), site.hub.token_file.read_text().strip()) as api:
        assert wait_until(lambda: not [s for s in api.servers(user) if s.startswith("handbook-")], 60)
    assert not (home_of(site, user) / "jupyter-handbook").exists()
    assert report.cleanup.problems == []


def test_a_link_to_a_place_the_site_lacks_gets_the_form_with_the_reason_and_its_defaults(
    site: Profile, novice: tuple[HubClient, str]
) -> None:
    client, user = novice
    examples = discover_examples(REPO / "examples", site, ["start-first-notebook"])
    link = launch_link(examples[0], site)
    query = link.url.split("?", 1)[1].replace("place=login", "place=nowhere")
    response = client.session.get(f"{client.url}/{LAUNCH_PATH}?{query}", timeout=60)
    assert response.status_code == 200
    assert "/hub/spawn/" in response.url and "handbook-nowhere" in response.url
    assert "place &#39;nowhere&#39;: expected one of login" in response.text or (
        "place 'nowhere': expected one of login" in response.text
    )
    # The form offers its default place, the login node, checked.
    assert re.search(r'<option value="login" selected>', response.text), "the default is offered"
    assert "handbook-nowhere" not in client.servers(user) or not client.servers(user)["handbook-nowhere"].get(
        "ready"
    )


def test_a_link_to_another_repository_is_refused_with_the_reason(
    site: Profile, novice: tuple[HubClient, str]
) -> None:
    client, _user = novice
    query = urlencode(
        {"place": "login", "repo": "https://elsewhere.example.com/x", "urlpath": "lab/tree/x/y.ipynb"}
    )
    response = client.session.get(f"{client.url}/{LAUNCH_PATH}?{query}", timeout=60)
    assert response.status_code == 400
    assert "this hub opens examples of the handbook&#39;s repository" in response.text or (
        "this hub opens examples of the handbook's repository" in response.text
    )
