"""A link cut for a minute while a cell runs: JupyterLab gets the output back and nothing is lost.

Chromium runs in a network namespace that reaches the hub only over an emulated link
(`network_link`); the novice's way in is a load-test account's. While a cell runs, the link is
cut for 60 s and the user types into the next cell; after the link is back, the cell's output
must arrive on its own, the kernel must have kept its variables, and the saved notebook must
hold the output and what was typed. Nothing of the link stays behind.
"""

from __future__ import annotations

import subprocess

import pytest

from hpc_handbook.data.network_profiles import link_profiles
from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.network_bench import CUT_S, NetworkSkipped, measure_cut, measure_link
from hpc_handbook.reference_site.network_link import NAMESPACE_PREFIX
from hpc_handbook.reference_site.users import accounts, passwords

pytestmark = [pytest.mark.site]


def quiet(message: str) -> None:
    pass


@pytest.fixture
def account(site: Profile) -> str:
    """The last load-test account: the bench's first one keeps its own notebooks and servers."""
    return [a for a in accounts(site) if a.purpose == "load-test"][-1].name


def nothing_of_the_link_left() -> None:
    assert (
        NAMESPACE_PREFIX not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    )
    chromium = subprocess.run(["pgrep", "-f", "chromium-in-namespace"], capture_output=True, text=True).stdout
    assert not chromium.strip(), f"Chromium still runs: {chromium}"


def test_a_cell_running_through_a_60_s_cut_delivers_its_output_and_loses_nothing(
    site: Profile, account: str
) -> None:
    user, password = account, passwords(site)[account]  # read here: a failure's report shows no password
    try:
        cut = measure_cut(site, link_profiles()["good"], user, password, quiet)
    except NetworkSkipped as skipped:
        pytest.skip(f"no emulated link on this machine: {skipped}")
    assert cut.cut_s == CUT_S == 60
    assert cut.failure is None, cut.failure
    assert cut.reconnect_s is not None, "the running cell's output never arrived"
    assert cut.kernel_intact and cut.saved
    assert (cut.cells_lost, cut.edits_lost) == (0, 0), cut
    assert cut.nothing_lost
    nothing_of_the_link_left()


def test_the_poor_link_is_slower_than_the_good_one_at_every_step(site: Profile, account: str) -> None:
    user, password = account, passwords(site)[account]
    profiles = link_profiles()
    try:
        good = measure_link(site, profiles["good"], user, password, quiet)
        poor = measure_link(site, profiles["poor"], user, password, quiet)
    except NetworkSkipped as skipped:
        pytest.skip(f"no emulated link on this machine: {skipped}")
    assert good.failure is None and poor.failure is None, (good.failure, poor.failure)
    for step in ("login_s", "lab_ready_s", "cell_round_trip_s"):
        assert getattr(poor, step) > getattr(good, step), step
    # A cell's round trip crosses the link at least once both ways.
    assert (
        poor.cell_round_trip_s is not None and poor.cell_round_trip_s >= profiles["poor"].round_trip_ms / 1000
    )
    nothing_of_the_link_left()
