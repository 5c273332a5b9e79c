"""The service over a good link, a poor one, and a link cut while a cell runs: the network bench.

Each profile of `network_profiles.yml` gets a link of its own (`network_link`): Chromium runs in
the link's namespace and reaches the hub only across it (`network_browser`). Over each link
one account logs in, starts a server on the login node, waits for JupyterLab and runs a cell,
all timed. Then, over the good link, the link is cut for CUT_S while a cell runs: JupyterLab
must get the cell's output once the link is back, keep the kernel's state, keep what the user
typed meanwhile and save the notebook. A machine that cannot set up a link says why, and
nothing is measured.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from hpc_handbook.browser import BrowserUnavailable, first_line
from hpc_handbook.data.network_profiles import LinkProfile, link_profiles
from hpc_handbook.data.service_measurements import CutFigures, NetworkFigures, ServiceMeasurements
from hpc_handbook.hub.client import HubClient
from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.hub import hub_url
from hpc_handbook.reference_site.network_browser import (
    SessionTimes,
    StepFailed,
    browser_in,
    cell_through_a_cut,
    log_in_and_start,
    put_notebook,
    user_session,
)
from hpc_handbook.reference_site.network_link import Link, LinkUnavailable, emulated_link
from hpc_handbook.reference_site.system import Log

#: The profiles measured, in this order; the cut happens on the first.
MEASURED_PROFILES = ("good", "poor")
CUT_S = 60.0


class NetworkSkipped(Exception):
    """The network measurements cannot run on this machine; the message says why."""


def _figures(profile: LinkProfile, times: SessionTimes, failure: str | None) -> NetworkFigures:
    return NetworkFigures(
        profile=profile.name,
        description=profile.description,
        round_trip_ms=profile.round_trip_ms,
        loss_percent=profile.loss_percent,
        rate_mbit=profile.rate_mbit,
        failure=failure,
        **vars(times),
    )


def _stop(profile: Profile, user: str, password: str, server: str) -> None:
    """The server the browser started, stopped through the hub on loopback."""
    with HubClient.login(hub_url(profile), user, password) as client:
        if server in client.servers(user):
            client.stop(user, server, wait_s=120)


@contextlib.contextmanager
def _browser_behind(link_profile: LinkProfile, profile: Profile) -> Iterator[tuple[Link, Any]]:
    """A link with `link_profile` to the hub's proxy, and a page of a Chromium behind it."""
    assert profile.reference_site is not None
    with emulated_link(link_profile, profile.reference_site.hub_port) as link:
        with browser_in(link.namespace, link.host_address) as page:
            yield link, page


def measure_link(
    profile: Profile, link_profile: LinkProfile, user: str, password: str, log: Log
) -> NetworkFigures:
    """One user's way in over a link with `link_profile`, timed; the server stopped afterwards."""
    server = f"net-{link_profile.name}"
    times, failure = SessionTimes(), None
    put_notebook(user, profile.kernel_roles["python"].name)
    try:
        with _browser_behind(link_profile, profile) as (link, page):
            try:
                user_session(page, link.url, user, password, server, times)
            except StepFailed as error:
                failure = str(error)
    except (LinkUnavailable, BrowserUnavailable) as error:
        raise NetworkSkipped(str(error)) from None
    finally:
        _stop(profile, user, password, server)
    log(f"network over the {link_profile.name} link: {times}" + (f"; failed: {failure}" if failure else ""))
    return _figures(link_profile, times, failure)


def measure_cut(
    profile: Profile, link_profile: LinkProfile, user: str, password: str, log: Log
) -> CutFigures:
    """A cell running while the link is cut for CUT_S: what the user gets back, and what is lost."""
    server = f"net-cut-{link_profile.name}"
    path = put_notebook(user, profile.kernel_roles["python"].name)
    figures = CutFigures(profile=link_profile.name, cut_s=CUT_S)
    try:
        with _browser_behind(link_profile, profile) as (link, page):
            try:
                log_in_and_start(page, link.url, user, password, server, SessionTimes())
                outcome = cell_through_a_cut(page, link.cut, link.restore, cut_s=CUT_S, path=path)
                figures = CutFigures(profile=link_profile.name, cut_s=CUT_S, **vars(outcome))
            except Exception as error:
                figures = figures.model_copy(update={"failure": first_line(error)})
    except (LinkUnavailable, BrowserUnavailable) as error:
        raise NetworkSkipped(str(error)) from None
    finally:
        _stop(profile, user, password, server)
        path.unlink(missing_ok=True)
    log(f"network: a {CUT_S:.0f} s cut while a cell ran: {figures.model_dump(exclude_none=True)}")
    return figures


def measure_network(
    profile: Profile, user: str, password: str, log: Log
) -> tuple[list[NetworkFigures], CutFigures | None, str | None]:
    """Every measured profile, then the cut; or nothing, with the reason, where links cannot be set up."""
    profiles = link_profiles()
    try:
        links = [measure_link(profile, profiles[name], user, password, log) for name in MEASURED_PROFILES]
        cut = measure_cut(profile, profiles[MEASURED_PROFILES[0]], user, password, log)
    except NetworkSkipped as skipped:
        log(f"network: not measured: {skipped}")
        return [], None, str(skipped)
    return links, cut, None


def network_lines(measured: ServiceMeasurements) -> list[str]:
    """The bench's lines for the links: each profile's steps, then the cut (or why none was measured)."""
    if measured.network_skipped:
        return [f"network: not measured: {measured.network_skipped}"]
    lines = []
    for link in measured.network:
        steps = [
            f"{name} {_seconds(value)}"
            for name, value in (
                ("log in", link.login_s),
                ("start a server", link.spawn_s),
                ("JupyterLab ready", link.lab_ready_s),
                ("a cell's round trip", link.cell_round_trip_s),
                ("JupyterLab again", link.lab_again_s),
            )
        ]
        line = (
            f"browser on a {link.profile} link ({link.round_trip_ms:.0f} ms, {link.loss_percent:g} % loss, "
            f"{link.rate_mbit:g} Mbit/s): " + ", ".join(steps)
        )
        lines.append(
            line + _dropped(link.runs_dropped) + (f"; failed: {link.failure}" if link.failure else "")
        )
    cut = measured.cut
    if cut is not None:
        lines.append(
            f"link cut for {cut.cut_s:.0f} s while a cell ran ({cut.profile} link): output back "
            f"{_seconds(cut.reconnect_s)} after the link, {cut.cells_lost} of {cut.cells} cells and "
            f"{cut.edits_lost} of {cut.edits} edits lost, kernel state "
            f"{'intact' if cut.kernel_intact else 'lost'}, notebook {'saved' if cut.saved else 'not saved'}"
            + _dropped(cut.runs_dropped)
            + (f"; failed: {cut.failure}" if cut.failure else "")
        )
    return lines


def _dropped(runs: int) -> str:
    return f"; {runs} run(s) dropped by JupyterLab as the notebook opened, run again" if runs else ""


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"
