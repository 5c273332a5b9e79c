"""The hub restarts, then its proxy, while a user works: nothing of the user's is lost.

The novice runs a server on the login node and one in a Slurm job, each with a kernel holding
a variable. The hub is stopped and started again, then the proxy: the same servers and jobs
are there, the kernels kept their variables (and ran cells while the hub was away), the
user's login still holds, and the doc CI's next run passes. `site down` then stops servers
the hub no longer stops when it ends.
"""

from __future__ import annotations

import asyncio
import json
import pwd
from pathlib import Path

import pytest
from conftest import user_jobs, wait_until

from hpc_handbook.doc_ci.run.runner import run_examples
from hpc_handbook.hub.client import HubClient
from hpc_handbook.hub.kernels import ServerKernel, stream_text
from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.hub import hub_url
from hpc_handbook.reference_site.lifecycle import down, up
from hpc_handbook.reference_site.proxy import ROUTES_CHECK_S
from hpc_handbook.reference_site.restart_bench import measure_restarts
from hpc_handbook.reference_site.spawn_options import LOGIN_NODE
from hpc_handbook.reference_site.users import PASSWORDS_FILE

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.site, pytest.mark.slurm]


def quiet(message: str) -> None:
    pass


def test_servers_kernels_and_jobs_survive_a_hub_restart_then_a_proxy_restart(
    site: Profile, novice: tuple[HubClient, str]
) -> None:
    client, name = novice
    partition = site.interactive_partition.name
    places = {
        "on-login": {"place": LOGIN_NODE},
        "in-job": {"place": partition, "walltime": "00:30:00", "cpus": 1, "nodes": 1},
    }
    hub, proxy = measure_restarts(site, client, name, places, site.kernel_roles["python"].name, quiet)

    assert hub.restarted == "hub" and hub.survived, hub.failure
    assert hub.servers == 2 and hub.cells_while_away == 2, "the kernels did not work while the hub was away"
    assert hub.back_s is not None and hub.back_s < 60
    assert proxy.restarted == "proxy" and proxy.survived, proxy.failure
    # Routes come back at the hub's next check of them.
    assert proxy.back_s is not None and proxy.back_s <= ROUTES_CHECK_S + 10
    # The user's login held through both restarts, and the servers were stopped afterwards.
    assert client.servers(name) == {}
    assert wait_until(lambda: not user_jobs(name), 30), user_jobs(name)
    # The doc CI's next run, through the restarted hub and proxy, passes.
    run = run_examples(profile=site, examples_dir=REPO / "examples", names=["start-first-notebook"])
    assert not run.failed, [f"{r.example}: {r.reason}" for r in run.failed]


def test_down_stops_the_servers_the_hub_leaves_running_when_it_stops(
    site: Profile, novice: tuple[HubClient, str]
) -> None:
    client, name = novice
    partition = site.interactive_partition.name
    assert client.start_and_wait(name, "on-login", {"place": LOGIN_NODE}, timeout_s=120).ready
    options = {"place": partition, "walltime": "00:30:00", "cpus": 1, "nodes": 1}
    assert client.start_and_wait(name, "in-job", options, timeout_s=180).ready
    assert [job for _, _, job in user_jobs(name)] == ["jupyter-server"]
    messages: list[str] = []
    try:
        down(log=messages.append)
        assert "stopping 2 server(s) through the hub" in messages, messages
        assert not [pid for pid in Path("/proc").iterdir() if pid.name.isdigit() and _owned_by(pid, name)]
    finally:
        up(site, log=quiet)
    # Slurm, back with the state it saved, has no job of theirs left.
    assert not user_jobs(name)
    # The hub that comes up again knows they ended: the user starts anew.
    password = json.loads(PASSWORDS_FILE.read_text())[name]
    with HubClient.login(hub_url(site), name, password) as again:
        assert again.servers(name) == {}
        assert again.start_and_wait(name, "on-login", {"place": LOGIN_NODE}, timeout_s=120).ready
        kernel = ServerKernel(again, name, "on-login", site.kernel_roles["python"].name)
        cell = asyncio.run(_run(kernel, "print(6 * 7)"))
        assert cell == "42"
        again.stop(name, "on-login")


async def _run(kernel: ServerKernel, code: str) -> str:
    try:
        await kernel.start()
        return stream_text(await kernel.run(code, timeout_s=60)).strip()
    finally:
        await kernel.shutdown()


def _owned_by(process: Path, user: str) -> bool:
    try:
        return process.stat().st_uid == pwd.getpwnam(user).pw_uid
    except OSError:
        return False
