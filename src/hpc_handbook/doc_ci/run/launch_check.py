"""Follow every example page's "Open on the hub" link as the doc-CI account, as a browser does.

The account logs in through the hub's login form (its password file), then for each link:
the hub's launch handler, JupyterHub's spawn-through-URL for the link's named server, the
wait page until the server runs, nbgitpuller's page and its pull (the stream its page's
script reads), and the notebook page it opens. Then the check reads back where the server
runs (its spawn options, and for a partition the Slurm job) and the notebook in the home
(the example's own cells), also for an example the site cannot run: its link opens it all the
same, to read. The run's servers are stopped and the home is left as found, as
after an examples run (`HubRun`).
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Sequence
from itertools import zip_longest
from typing import Literal
from urllib.parse import unquote, urljoin, urlparse

import requests

from hpc_handbook.data.launch_links import LaunchLinkResult, LaunchLinksReport
from hpc_handbook.doc_ci.run.through_hub import SPAWN_TIMEOUT_S, HubRun, HubRunError
from hpc_handbook.examples.contract import Example
from hpc_handbook.examples.launch_link import LaunchLink, launch_link
from hpc_handbook.hub.client import HubClient, HubError
from hpc_handbook.profile import Profile
from hpc_handbook.slurm import SlurmError, list_jobs

#: A pull of the handbook's examples takes seconds; a stuck git is a failure.
PULL_TIMEOUT_S = 180
MAX_REDIRECTS = 12
_SPAWN_ERROR = re.compile(r'class="[^"]*spawn-error-msg[^"]*"[^>]*>(.*?)</', re.S)


class LinkFailure(Exception):
    """The link did not get where its page says; the message says at which step and why."""


def _password(profile: Profile) -> str:
    assert profile.hub is not None
    if profile.hub.password_file is None:
        raise HubRunError(
            "hub.password_file: the hub's pages need a logged-in browser, and the site profile gives the "
            "doc CI's account no password"
        )
    try:
        return profile.hub.password_file.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise HubRunError(
            f"cannot read the doc CI's password file {profile.hub.password_file} ({error.strerror})"
        ) from None


def _get(browser: HubClient, path: str, **kwargs: object) -> requests.Response:
    try:
        return browser.session.get(urljoin(browser.url + "/", path.lstrip("/")), timeout=60, **kwargs)  # type: ignore[arg-type]
    except requests.RequestException as error:
        raise LinkFailure(f"GET {path}: the hub does not answer ({type(error).__name__})") from None


def _local(location: str) -> str:
    """A redirect's target as a path on the hub (the hub redirects within itself)."""
    parsed = urlparse(location)
    return parsed.path + (f"?{parsed.query}" if parsed.query else "")


def _spawn_error(page: str) -> str:
    found = _SPAWN_ERROR.search(page)
    text = html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip() if found else ""
    return text or "the hub showed its spawn form instead of starting the server"


def _wait_until_ready(api: HubClient, user: str, server: str) -> None:
    try:
        messages = [
            str(event.get("message", ""))
            for event in api.progress(user, server, timeout_s=SPAWN_TIMEOUT_S)
            if not event.get("ready")
        ]
    except HubError as error:
        raise LinkFailure(f"the server {server} did not start: {error}") from None
    entry = api.servers(user).get(server) or {}
    if not entry.get("ready"):
        raise LinkFailure(f"the server {server} did not start: {(messages or ['no progress reported'])[-1]}")


def _to_the_server(browser: HubClient, api: HubClient, user: str, link: LaunchLink, path: str) -> str:
    """Follow the hub's redirects from the link until they leave the hub; the path they lead to."""
    for _ in range(MAX_REDIRECTS):
        response = _get(browser, path, allow_redirects=False)
        if response.status_code in (301, 302, 303, 307):
            path = _local(response.headers["Location"])
            if path.startswith("/user/"):
                return path
            continue
        if response.status_code != 200:
            raise LinkFailure(f"GET {path.split('?')[0]}: HTTP {response.status_code}")
        if "/spawn-pending/" in path:
            _wait_until_ready(api, user, link.server)
            continue
        raise LinkFailure(f"{path.split('?')[0]}: {_spawn_error(response.text)}")
    raise LinkFailure(f"more than {MAX_REDIRECTS} redirects from the link")


def _pull(browser: HubClient, pull_page: str) -> str:
    """Open nbgitpuller's page, run its pull as the page's script does; the notebook page it then opens."""
    page = _get(browser, pull_page)
    if page.status_code != 200:
        raise LinkFailure(f"nbgitpuller's page {pull_page.split('?')[0]}: HTTP {page.status_code}")
    attributes = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', page.text))
    if "repo" not in attributes:
        raise LinkFailure(f"{pull_page.split('?')[0]} is not nbgitpuller's page (is nbgitpuller installed?)")
    decoded = {key: unquote(value) for key, value in attributes.items()}
    base = decoded["base-url"]
    query = {key: decoded[key] for key in ("repo", "branch", "targetpath") if key in decoded}
    stream = _get(
        browser, f"{base}git-pull/api", params={**query, "_xsrf": decoded.get("xsrf", "")}, stream=True
    )
    finished, last = False, {}
    started = time.monotonic()
    with stream:
        for raw in stream.iter_lines():
            if time.monotonic() - started > PULL_TIMEOUT_S:
                break
            line = raw.decode("utf-8", errors="replace")
            if line.startswith("data:"):
                last = json.loads(line[len("data:") :])
                if last.get("phase") in ("finished", "error"):
                    finished = last["phase"] == "finished"
                    break
    if not finished:
        raise LinkFailure(f"nbgitpuller did not pull {query.get('repo')}: {last.get('message', 'no answer')}")
    return f"{base}{decoded['path']}"


def _check_notebook(
    browser: HubClient, user: str, link: LaunchLink, example: Example, notebook_page: str
) -> None:
    opened = _get(browser, notebook_page)
    if opened.status_code != 200:
        raise LinkFailure(f"the notebook page {notebook_page}: HTTP {opened.status_code}")
    contents = _get(
        browser, f"/user/{user}/{link.server}/api/contents/{link.notebook}", params={"content": "1"}
    )
    if contents.status_code != 200:
        raise LinkFailure(f"{link.notebook} is not in the home after the pull (HTTP {contents.status_code})")
    cells = contents.json()["content"]["cells"]
    pulled = [
        "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"] for cell in cells
    ]
    expected = [cell.source for cell in example.notebook.cells]
    if pulled != expected:
        differing = next(i for i, pair in enumerate(zip_longest(pulled, expected)) if pair[0] != pair[1])
        raise LinkFailure(f"{link.notebook} in the home is not the example: cell {differing} differs")


def _check_place(api: HubClient, user: str, link: LaunchLink) -> None:
    entry = api.servers(user).get(link.server) or {}
    place = (entry.get("user_options") or {}).get("place")
    if place != link.options["place"]:
        raise LinkFailure(
            f"the server {link.server} runs on {place!r}, the link asks for {link.options['place']!r}"
        )
    if link.partition is None:
        return
    try:
        jobs = [j for j in list_jobs(timeout=30) if j.user == user and j.state == "RUNNING"]
    except SlurmError as error:
        raise LinkFailure(f"where the server runs is unknown: {error}") from None
    if not any(job.partition == link.partition for job in jobs):
        raise LinkFailure(f"the server {link.server} has no running job on partition {link.partition}")


def follow_link(
    browser: HubClient, api: HubClient, user: str, link: LaunchLink, example: Example, hub: str
) -> None:
    """Follow one page's link to its notebook; LinkFailure naming the step that went wrong."""
    path = link.url.removeprefix(hub)
    pull_page = _to_the_server(browser, api, user, link, path)
    notebook_page = _pull(browser, pull_page)
    _check_place(api, user, link)
    _check_notebook(browser, user, link, example, notebook_page)


def check_launch_links(profile: Profile, examples: Sequence[Example], run_id: str) -> LaunchLinksReport:
    """Follow every example page's link; the report says what each did."""
    assert profile.hub is not None
    report = LaunchLinksReport(site=profile.site.short_name)
    links = [(example, launch_link(example, profile)) for example in examples]
    user, hub = profile.hub.doc_ci_user, str(profile.site.hub_url).rstrip("/")
    run = HubRun.open(profile, run_id)
    try:
        with HubClient.login(str(profile.hub.url), user, _password(profile)) as browser:
            for example, link in links:
                started = time.monotonic()
                try:
                    follow_link(browser, run.client, user, link, example, hub)
                    result = _result(example, link, "passed")
                except (LinkFailure, HubError) as failure:
                    result = _result(example, link, "failed", str(failure))
                result.seconds = round(time.monotonic() - started, 1)
                report.results.append(result)
    finally:
        report.cleanup = run.close()
    report.results.sort(key=lambda result: result.example)
    return report


def _result(
    example: Example, link: LaunchLink, status: Literal["passed", "failed"], reason: str = ""
) -> LaunchLinkResult:
    return LaunchLinkResult(
        example=example.name,
        page=example.page,
        owner=example.meta.owner,
        url=link.url,
        status=status,
        reason=reason,
        caveat=link.caveat,
        server=link.server,
        partition=link.partition,
    )
