"""An example page's "Open on the hub" link, as a user meets it in Chromium: the link, the hub's
login page, the server starting, nbgitpuller's page pulling, and JupyterLab with the notebook open."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, user_jobs, wait_until

from hpc_handbook.browser import chromium
from hpc_handbook.doc_ci.ui.walk import prepare_context
from hpc_handbook.examples.contract import discover_examples
from hpc_handbook.examples.launch_link import launch_link
from hpc_handbook.hub.client import HubClient
from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.hub import hub_url
from hpc_handbook.reference_site.users import PASSWORDS_FILE, account_by_purpose

pytestmark = [pytest.mark.site, pytest.mark.browser, pytest.mark.slow]

EXAMPLE = "recipe-optimized-libraries"


@contextlib.contextmanager
def home_as_found(home: Path) -> Iterator[None]:
    """What appears in the home goes again; JupyterLab's settings and workspaces are put back.

    JupyterLab saves the open notebook in the user's workspace, and every server of the same
    environment opens it again: the next test's JupyterLab must not find this one's tabs.
    """
    before = {entry.name for entry in home.iterdir()}
    lab = home / ".jupyter" / "lab"
    saved = {path: path.read_bytes() for path in lab.rglob("*") if path.is_file()} if lab.exists() else {}
    try:
        yield
    finally:
        for entry in home.iterdir():
            if entry.name in before:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        written = [path for path in lab.rglob("*") if path.is_file() and path not in saved]
        for path in written:
            path.unlink()
        for path, content in saved.items():
            path.write_bytes(content)


@pytest.fixture
def novice(site: Profile) -> Iterator[tuple[str, str]]:
    """The novice account and its password; its servers stopped and its home as found after, so the
    pictures of its JupyterLab stay as they were."""
    user = account_by_purpose(site, "novice").name
    password = json.loads(PASSWORDS_FILE.read_text())[user]
    home = Path(next(f.path for f in site.filesystems if f.name == "home").replace("$USER", user))
    with home_as_found(home):
        yield user, password
        with HubClient.login(hub_url(site), user, password) as client:
            for server in list(client.servers(user)):
                client.stop(user, server)
        assert wait_until(lambda: not user_jobs(user), 30), f"left behind: {user_jobs(user)}"


def test_the_link_logs_in_starts_the_examples_place_and_opens_its_notebook(
    site: Profile, novice: tuple[str, str]
) -> None:
    user, password = novice
    [example] = discover_examples(REPO / "examples", site, [EXAMPLE])
    link = launch_link(example, site)
    url = hub_url(site)
    # The page links the public address; the reference site's hub listens on loopback.
    followed = url + link.url.removeprefix(str(site.site.hub_url).rstrip("/"))
    with chromium() as browser:
        page = prepare_context(browser).new_page()
        page.goto(followed)
        page.locator("input[name=username]").fill(user)
        page.locator("input[name=password]").fill(password)
        with page.expect_navigation():
            page.locator("form [type=submit]").first.click()
        notebook = re.escape(link.notebook.split("/")[-1])
        page.wait_for_url(
            re.compile(rf"/user/{re.escape(user)}/{link.server}/lab/tree/.*{notebook}"), timeout=180_000
        )
        tab = page.locator(".lm-TabBar-tab.jp-mod-current .lm-TabBar-tabLabel")
        tab.wait_for(timeout=120_000)
        assert tab.text_content() == link.notebook.split("/")[-1]
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    assert [(partition, name) for _job, partition, name in user_jobs(user)] == [
        (link.partition, "jupyter-server")
    ]
