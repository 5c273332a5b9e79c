"""The screenshots of the novice pages, and the UI check that catches the service drifting from them.

`record` walks the service (see `ui_walk`), writes each view's picture and the record of what
a reader relies on in it (`book/start/images/ui-snapshot.json`). `check` walks it again and
compares that record, name by name: a removed kernel, a renamed partition or a moved menu
item is a difference that names the view, the element and the page that shows it; a change
of pixels alone is none. Before and after a walk, the account's servers are stopped and its
Slurm jobs must be gone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hpc_handbook.browser import chromium
from hpc_handbook.data.files import write_atomically
from hpc_handbook.data.ui_snapshot import UI_SNAPSHOT, UiSnapshot, load_ui_snapshot, write_ui_snapshot
from hpc_handbook.doc_ci.ui.own_environment import OwnEnvironmentBuild, OwnEnvironmentError, built_for
from hpc_handbook.doc_ci.ui.walk import Walk, WalkError, prepare_context, views_config, walk_the_service
from hpc_handbook.hub.client import HubClient, HubError
from hpc_handbook.slurm import list_jobs

REPORT = Path("_build/reports/ui-check.md")
JOBS_GONE_TIMEOUT_S = 60


@dataclass(frozen=True)
class Account:
    """The account the walk logs in as, and where its server runs."""

    hub_url: str
    user: str
    password: str
    partition: str
    #: Built in the account's home for the own-environment view; None leaves that view out.
    own_environment: OwnEnvironmentBuild | None = None


@dataclass(frozen=True)
class Difference:
    view: str
    title: str
    page: str
    group: str
    message: str


def _user_jobs(user: str) -> list[str]:
    return [job.job_id for job in list_jobs(check=False, timeout=60) if job.user == user]


def stop_servers(account: Account) -> None:
    """Stop the account's servers (removing named ones); WalkError when a Slurm job of it stays."""
    with HubClient.login(account.hub_url, account.user, account.password) as client:
        for server in list(client.servers(account.user)):
            client.stop(account.user, server)
        # The hub lists stopped named servers only when asked to.
        user = client.api("GET", f"/users/{quote(account.user)}", params={"include_stopped_servers": "1"})
        for server in user.get("servers") or {}:
            if server:
                # A named server a test left would be a row in the control panel's picture.
                client.api(
                    "DELETE",
                    f"/users/{quote(account.user)}/servers/{quote(server)}",
                    json={"remove": True},
                    expect=(202, 204, 404),
                )
    deadline = time.monotonic() + JOBS_GONE_TIMEOUT_S
    while (jobs := _user_jobs(account.user)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if jobs:
        raise WalkError(
            f"{account.user}'s Slurm jobs {', '.join(jobs)} are still queued after its server stopped"
        )


def walk(account: Account, *, shots: Path | None) -> Walk:
    """One walk through the service in Chromium; the account's server is stopped afterwards, always."""
    stop_servers(account)  # also proves the hub answers and the password is right
    own = account.own_environment
    # The own environment is removed only after its server has stopped.
    with built_for(account.user, own) if own is not None else contextlib.nullcontext():
        try:
            return _walk_in_chromium(account, shots, own_extension=own.extension if own else None)
        finally:
            stop_servers(account)


def _walk_in_chromium(account: Account, shots: Path | None, *, own_extension: str | None) -> Walk:
    with chromium() as browser:
        from playwright.sync_api import Error as PlaywrightError

        context = prepare_context(browser)
        done = Walk(
            context.new_page(),
            account.hub_url,
            account.user,
            account.password,
            account.partition,
            shots,
            own_extension=own_extension,
        )
        try:
            walk_the_service(done)
        except PlaywrightError as error:
            title = done.config["views"].get(done.current, {}).get("title", done.current)
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise WalkError(f"{title}: {first}") from None
        finally:
            context.close()
    return done


def record(account: Account, *, snapshot_path: Path = UI_SNAPSHOT) -> list[Path]:
    """Take every view's picture and record its names; files are replaced only after a whole walk."""
    staging = Path(tempfile.mkdtemp(prefix="screenshots-"))
    try:
        done = walk(account, shots=staging)
        with HubClient.login(account.hub_url, account.user, account.password) as client:
            hub = client.version()
        written = []
        snapshot_path.parent.mkdir(parents=True, exist_ok=True)
        for picture in sorted(staging.glob("*.png")):
            shutil.copyfile(picture, snapshot_path.parent / picture.name)
            written.append(snapshot_path.parent / picture.name)
        write_ui_snapshot(
            snapshot_path,
            UiSnapshot(
                views=done.facts, versions={"jupyterhub": hub, **done.versions}, pictures=done.pictures
            ),
        )
        return [*written, snapshot_path]
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def compare(expected: UiSnapshot, found: dict[str, Any], config: dict[str, Any]) -> list[Difference]:
    """Each element whose name the reader relies on and that is gone, new, reordered or moved."""
    differences = []
    for view, recorded in expected.views.items():
        setup = config["views"].get(view, {"title": view, "page": "", "groups": {}})
        seen = found[view].elements if view in found else {}
        for group, names in recorded.elements.items():
            label = setup["groups"].get(group, group)
            for message in _group_differences(
                names, seen.get(group, []), ordered=group == "hub-control-panel", messages=config["messages"]
            ):
                differences.append(Difference(view, setup["title"], setup["page"], label, message))
    return differences


def _quoted(names: list[str], joiner: str = ", ") -> str:
    return joiner.join(f'"{name}"' for name in names) or "nothing"


def _group_differences(
    expected: list[str], found: list[str], *, ordered: bool, messages: dict[str, str]
) -> list[str]:
    if expected == found:
        return []
    if ordered:
        if not found:
            return [messages["path_gone"].format(expected=" → ".join(expected))]
        return [messages["path_moved"].format(expected=" → ".join(expected), found=" → ".join(found))]
    lines = [messages["missing"].format(expected=_quoted([n])) for n in expected if n not in found]
    lines += [messages["unexpected"].format(found=_quoted([n])) for n in found if n not in expected]
    return lines or [messages["reordered"].format(expected=_quoted(expected), found=_quoted(found))]


def report(differences: list[Difference], *, site: str, docs_url: str, config: dict[str, Any]) -> str:
    """The check's Markdown report: per view, its page and each difference."""
    words = config["report"]
    when = dt.datetime.now(dt.UTC)
    lines = [
        words["title"].format(site=site),
        "",
        words["when"].format(when=f"{when:%Y-%m-%d %H:%M}", snapshot=UI_SNAPSHOT),
        "",
    ]
    if not differences:
        return "\n".join([*lines, words["passed"], ""])
    lines += [words["failed"].format(count=len(differences)), ""]
    for view in dict.fromkeys(d.view for d in differences):
        in_view = [d for d in differences if d.view == view]
        page = in_view[0].page
        url = f"{docs_url.rstrip('/')}/{page.removesuffix('.md')}.html"
        lines += [words["view"].format(title=in_view[0].title, view=view, page=page, url=url), ""]
        lines += [f"- {d.group}: {d.message}" for d in in_view]
        lines.append("")
    return "\n".join(lines)


def check(account: Account, *, site: str, docs_url: str, report_path: Path = REPORT) -> list[Difference]:
    """Walk the service without pictures, compare with the record, write the report."""
    expected = load_ui_snapshot()
    config = views_config()
    found = walk(account, shots=None).facts
    differences = compare(expected, found, config)
    write_atomically(report_path, report(differences, site=site, docs_url=docs_url, config=config))
    return differences


__all__ = [
    "Account",
    "Difference",
    "HubError",
    "OwnEnvironmentError",
    "WalkError",
    "check",
    "compare",
    "record",
    "report",
]
