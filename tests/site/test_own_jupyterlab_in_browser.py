"""A user's own JupyterLab, as the user meets it: built in their home, chosen on the spawn form in
Chromium, and the third-party extension it has is one JupyterLab loads in the browser.

The centre's environments do not have `jupyterlab-execute-time`; only the user's own one does.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator

import pytest

from hpc_handbook.browser import chromium
from hpc_handbook.doc_ci.ui.own_environment import OwnEnvironmentBuild, built_for
from hpc_handbook.doc_ci.ui.walk import prepare_context
from hpc_handbook.hub.client import HubClient
from hpc_handbook.profile import OWN_ENVIRONMENT, Profile
from hpc_handbook.reference_site.hub import hub_url
from hpc_handbook.reference_site.server_environment import HUB_VERSION
from hpc_handbook.reference_site.spawn_options import LOGIN_NODE
from hpc_handbook.reference_site.users import PASSWORDS_FILE, account_by_purpose

pytestmark = [pytest.mark.site, pytest.mark.browser, pytest.mark.slow]

BUILD = OwnEnvironmentBuild(
    script="",  # the profile's, below
    folder="own-jupyterlab-test",
    packages=("jupyterlab==4.5.6", f"jupyterhub=={HUB_VERSION}", "jupyterlab-execute-time==3.2.0"),
    extension="jupyterlab-execute-time",
)


@pytest.fixture
def own_environment(site: Profile) -> Iterator[tuple[str, str]]:
    """The novice's own environment and start-up script, built as the recipe builds them; removed after."""
    own = site.jupyter.own_environment
    if own is None:
        pytest.skip("the profile offers no own environment")
    user = account_by_purpose(site, "novice").name
    password = json.loads(PASSWORDS_FILE.read_text())[user]
    with built_for(user, dataclasses.replace(BUILD, script=own.script)):
        try:
            yield user, password
        finally:
            with HubClient.login(hub_url(site), user, password) as client:
                for server in list(client.servers(user)):
                    client.stop(user, server)


def test_the_extension_of_the_users_own_jupyterlab_loads_in_the_browser(
    site: Profile, own_environment: tuple[str, str]
) -> None:
    user, password = own_environment
    url = hub_url(site)
    with chromium() as browser:
        page = prepare_context(browser).new_page()
        page.goto(f"{url}/hub/login")
        page.locator("input[name=username]").fill(user)
        page.locator("input[name=password]").fill(password)
        with page.expect_navigation():
            page.locator("form [type=submit]").first.click()
        page.goto(f"{url}/hub/spawn/{user}")
        page.locator("select[name=place]").select_option(LOGIN_NODE)
        page.locator("select[name=environment]").select_option(OWN_ENVIRONMENT)
        page.locator("form [type=submit]").first.click()
        page.wait_for_url(re.compile(rf"/user/{re.escape(user)}/lab"), timeout=120_000)
        page.locator(".jp-LauncherCard").first.wait_for(timeout=120_000)
        config = json.loads(page.locator("#jupyter-config-data").text_content() or "{}")
    loaded = [extension["name"] for extension in config.get("federated_extensions", [])]
    assert BUILD.extension in loaded, loaded
    # The JupyterLab the user installed (the same release as the current environment here).
    assert config.get("appVersion") == BUILD.packages[0].split("==")[1]
    # None of the centre's environments has it: the user's own script really started the server.
    assert "@cmd-ntrf/jupyterlab-lmod" not in loaded, loaded
