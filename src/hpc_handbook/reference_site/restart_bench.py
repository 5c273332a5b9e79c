"""The hub restarted, then its proxy, while a user's servers run: what survives, and how soon users are back.

One account starts a server on the login node and one in a Slurm job, opens a kernel in each
and sets a variable. The hub is stopped: the kernels keep running cells through the proxy while
it is away. It is started again: the same servers must be listed as ready, the same Slurm jobs
must run, the variables must hold. Then the proxy is restarted: it comes back without routes,
the hub puts them back at its next check, and the kernels' channels open again as JupyterLab
reopens them. `nox -s bench` reports it; the site test asserts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

from hpc_handbook.data.service_measurements import RestartFigures
from hpc_handbook.hub.client import HubClient, HubError
from hpc_handbook.hub.kernels import KernelError, ServerKernel, stream_text
from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.hub import hub_answers, hub_url, start_hub, stop_hub
from hpc_handbook.reference_site.proxy import ROUTES_CHECK_S, ensure_proxy, stop_proxy
from hpc_handbook.reference_site.system import Log
from hpc_handbook.slurm import list_jobs

#: The variable each kernel keeps across the restarts, and its first value.
SURVIVOR = "survivor"
FIRST_VALUE = 41
SPAWN_TIMEOUT_S = 240
CELL_TIMEOUT_S = 60


def _job_ids(user: str) -> set[str]:
    return {job.job_id for job in list_jobs(check=False) if job.user == user and job.state == "RUNNING"}


async def _value(kernel: ServerKernel) -> int | None:
    """The variable's value in the kernel, or None when the kernel lost it (or did not answer)."""
    try:
        cell = await kernel.run(f"print({SURVIVOR})", timeout_s=CELL_TIMEOUT_S, store_history=False)
    except (KernelError, TimeoutError, OSError):
        return None
    text = stream_text(cell).strip()
    return int(text) if cell.status == "ok" and text.isdigit() else None


async def _increment(kernels: Mapping[str, ServerKernel]) -> dict[str, bool]:
    """Each kernel adds one to its variable: which did."""
    done = {}
    for name, kernel in kernels.items():
        try:
            cell = await kernel.run(f"{SURVIVOR} += 1", timeout_s=CELL_TIMEOUT_S)
        except (KernelError, TimeoutError, OSError):
            done[name] = False
        else:
            done[name] = cell.status == "ok"
    return done


def _ready(client: HubClient, user: str, names: list[str]) -> int:
    try:
        listed = client.servers(user)
    except HubError:
        return 0
    return sum(1 for name in names if (listed.get(name) or {}).get("ready"))


def _reachable(client: HubClient, user: str, names: list[str]) -> bool:
    try:
        for name in names:
            client.server_api(user, name, "/status")
    except HubError:
        return False
    return True


async def _wait(predicate: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return True
        await asyncio.sleep(0.5)
    return bool(await asyncio.to_thread(predicate))


async def _restart_hub(
    profile: Profile, client: HubClient, user: str, kernels: dict[str, ServerKernel], log: Log
) -> RestartFigures:
    names, jobs = list(kernels), _job_ids(user)
    await asyncio.to_thread(stop_hub, log)
    # Users keep working: their kernels' channels go through the proxy, not the hub.
    ran = await _increment(kernels)
    expected = {name: FIRST_VALUE + ran[name] for name in names}
    while_away = sum(ran.values())
    started = time.monotonic()
    await asyncio.to_thread(start_hub, profile, log)
    back = await _wait(
        lambda: _ready(client, user, names) == len(names) and _reachable(client, user, names), 60
    )
    back_s = round(time.monotonic() - started, 2) if back else None
    kept = _ready(client, user, names) if _job_ids(user) >= jobs else 0
    values = {name: await _value(kernel) for name, kernel in kernels.items()}
    intact = sum(1 for name in names if values[name] == expected[name])
    failure = None
    if not back or kept < len(names) or intact < len(names) or while_away < len(names):
        failure = (
            f"after the hub's restart: {kept} of {len(names)} servers ready with their jobs, "
            f"values {values} (expected {expected}), {while_away} cells ran while it was away"
        )
    return RestartFigures(
        restarted="hub",
        servers=len(names),
        servers_kept=kept,
        kernels_kept=intact,
        cells_while_away=while_away,
        back_s=back_s,
        failure=failure,
    )


async def _restart_proxy(
    profile: Profile, client: HubClient, user: str, kernels: dict[str, ServerKernel], log: Log
) -> RestartFigures:
    names, jobs = list(kernels), _job_ids(user)
    before = {name: await _value(kernel) for name, kernel in kernels.items()}
    await asyncio.to_thread(stop_proxy, log)
    started = time.monotonic()
    await asyncio.to_thread(ensure_proxy, profile, log)
    # Without its routes the proxy sends users to the hub; the hub adds them at its next check.
    back = await _wait(lambda: _reachable(client, user, names), ROUTES_CHECK_S + 30)
    back_s = round(time.monotonic() - started, 2) if back else None
    values: dict[str, int | None] = {}
    for name, kernel in kernels.items():
        try:
            await kernel.reconnect(timeout_s=CELL_TIMEOUT_S)
        except KernelError:
            values[name] = None
            continue
        values[name] = await _value(kernel)
    kept = _ready(client, user, names) if _job_ids(user) >= jobs else 0
    intact = sum(1 for name in names if values[name] is not None and values[name] == before[name])
    failure = None
    if not back or kept < len(names) or intact < len(names):
        failure = (
            f"after the proxy's restart: servers reachable again: {back}, {kept} of {len(names)} ready "
            f"with their jobs, values {values} (before: {before})"
        )
    return RestartFigures(
        restarted="proxy",
        servers=len(names),
        servers_kept=kept,
        kernels_kept=intact,
        back_s=back_s,
        failure=failure,
    )


async def _measure(
    profile: Profile,
    client: HubClient,
    user: str,
    places: Mapping[str, dict[str, Any]],
    kernel_name: str,
    log: Log,
) -> list[RestartFigures]:
    kernels: dict[str, ServerKernel] = {}
    try:
        for name, options in places.items():
            outcome = await asyncio.to_thread(
                client.start_and_wait, user, name, options, timeout_s=SPAWN_TIMEOUT_S
            )
            if not outcome.ready:
                raise HubError(f"server {name} did not start: {outcome.messages[-1:] or 'never ready'}")
            kernels[name] = ServerKernel(client, user, name, kernel_name)
            await kernels[name].start(timeout_s=SPAWN_TIMEOUT_S)
            await kernels[name].run(f"{SURVIVOR} = {FIRST_VALUE}", timeout_s=CELL_TIMEOUT_S)
        hub = await _restart_hub(profile, client, user, kernels, log)
        proxy = await _restart_proxy(profile, client, user, kernels, log)
        return [hub, proxy]
    finally:
        for kernel in kernels.values():
            with contextlib.suppress(KernelError, HubError, OSError):
                await kernel.shutdown()


def measure_restarts(
    profile: Profile,
    client: HubClient,
    user: str,
    places: Mapping[str, dict[str, Any]],
    kernel_name: str,
    log: Log,
) -> list[RestartFigures]:
    """Restart the hub, then the proxy, with a server per place (name: spawn options) running.

    Whatever happens, the hub and the proxy run afterwards and the servers are stopped.
    """
    try:
        return asyncio.run(_measure(profile, client, user, places, kernel_name, log))
    finally:
        if hub_answers(hub_url(profile)) is None:
            stop_hub(log)
            ensure_proxy(profile, log)
            start_hub(profile, log)
        for name in places:
            with contextlib.suppress(HubError):
                client.stop(user, name, wait_s=120)
