"""`site up` brings back a daemon that was killed or stopped answering, and every node with it.

These tests kill or stop the reference site's own daemons (munged, slurmctld, a slurmd, the
hub's proxy) and run `up`, as an admin would after an incident: every node must be ready
again, and the log must say what `up` restarted. Each test brings the site up again even
when it fails, so the tests after it find the site as they expect.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from hpc_handbook.processes import is_running
from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.hub import hub_answers, hub_pids, hub_url
from hpc_handbook.reference_site.lifecycle import up
from hpc_handbook.reference_site.proxy import proxy_pids
from hpc_handbook.reference_site.slurm_conf import site_nodes
from hpc_handbook.reference_site.slurm_nodes import node_ready, node_states, slurmd_pids
from hpc_handbook.reference_site.system import find_processes

pytestmark = [pytest.mark.site, pytest.mark.slurm]


def nodes_not_ready(site: Profile) -> dict[str, str]:
    """The site's nodes that sinfo does not show ready (idle, or busy with jobs), with their state."""
    states = node_states()
    return {
        node.name: states.get(node.name, "missing")
        for node in site_nodes(site)
        if not node_ready(states.get(node.name, ""))
    }


def munge_works() -> bool:
    credential = subprocess.run(["munge", "-n"], capture_output=True, timeout=10, check=False)
    decoded = subprocess.run(
        ["unmunge"], input=credential.stdout, capture_output=True, timeout=10, check=False
    )
    return credential.returncode == 0 and decoded.returncode == 0


def wait_until_gone(pids: list[int], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while any(is_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(is_running(pid) for pid in pids), f"{pids} still run after SIGKILL"


@contextmanager
def site_up_afterwards(site: Profile, stopped: list[int]) -> Iterator[list[str]]:
    """Yield `up`'s log lines list; whatever happens, continue the stopped pids and bring the site up."""
    messages: list[str] = []
    try:
        yield messages
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        up(site, log=lambda message: None)


def test_up_after_munged_was_killed_brings_back_munge_and_every_node(site: Profile) -> None:
    pids = find_processes("munged")
    assert pids, "munged is not running before the test"
    with site_up_afterwards(site, []) as messages:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_until_gone(pids)
        assert not munge_works()
        up(site, log=messages.append)
        assert munge_works()
        assert nodes_not_ready(site) == {}, messages
        assert "starting munged" in messages


def test_up_after_a_slurmd_was_killed_brings_back_its_node(site: Profile) -> None:
    node = site_nodes(site)[-1].name
    pid = slurmd_pids()[node]
    with site_up_afterwards(site, []) as messages:
        os.kill(pid, signal.SIGKILL)
        wait_until_gone([pid])
        up(site, log=messages.append)
        assert nodes_not_ready(site) == {}, messages
        assert f"starting slurmd for 1 node(s): {node}" in messages
        assert slurmd_pids()[node] != pid


def test_up_after_slurmctld_was_killed_brings_back_the_controller_and_every_node(site: Profile) -> None:
    pids = find_processes("slurmctld")
    with site_up_afterwards(site, []) as messages:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_until_gone(pids)
        up(site, log=messages.append)
        assert subprocess.run(["scontrol", "ping"], capture_output=True, check=False).returncode == 0
        assert nodes_not_ready(site) == {}, messages
        assert "starting slurmctld" in messages


def test_up_restarts_a_slurmctld_that_runs_but_does_not_answer(site: Profile) -> None:
    pids = find_processes("slurmctld")
    with site_up_afterwards(site, pids) as messages:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)  # it runs, and answers nothing
        up(site, log=messages.append)
        assert "slurmctld runs but does not answer `scontrol ping`: restarting it" in messages
        assert not set(pids) & set(find_processes("slurmctld")), "the stopped slurmctld is still there"
        assert nodes_not_ready(site) == {}, messages


def test_up_restarts_a_proxy_that_stopped_answering_and_keeps_the_hub(site: Profile) -> None:
    hub, proxies = hub_pids(), proxy_pids()
    assert hub and proxies, "the hub and its proxy are not running before the test"
    with site_up_afterwards(site, proxies) as messages:
        for pid in proxies:
            os.kill(pid, signal.SIGSTOP)  # the hub still answers on its own port, users reach nothing
        assert hub_answers(hub_url(site)) is None
        up(site, log=messages.append)
        assert hub_answers(hub_url(site)) is not None
        assert hub_pids() == hub, "the hub was restarted, and its users' servers with it"
        assert not set(proxies) & set(proxy_pids())
        assert any(m.startswith("configurable-http-proxy does not answer") for m in messages), messages
