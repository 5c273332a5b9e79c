"""`nox -s bench`, the service's half: how fast the hub starts servers, and how it holds up under load.

Everything goes through the hub's own login form and REST API, as a browser's requests do:
first several spawns one after the other on each place of the spawn form (the login node
and the partitions Jupyter reaches), then one session alone on each load place, for the CPU
time it takes, then the load run, where every load-test account logs in, starts a server (on
the login node or the batch partition, in turn) and runs a cell in a kernel at the same
moment, while the hub's API is asked something simple every half second. The load run's
lower bound is all the sessions' CPU time over the machine's cores. Last, the hub and then its
proxy are restarted while servers run (restart_bench.py), and a browser behind an emulated good,
then poor, then cut link goes the same way in (network_bench.py). The figures go to
`book/data/service-measurements.json`, which the scorecard's access criteria read.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import os
import pwd
import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpc_handbook.data.files import write_json
from hpc_handbook.data.measured_on import MeasuredOn
from hpc_handbook.data.service_measurements import (
    RestartFigures,
    ServiceMeasurements,
    SpawnTimes,
    Spread,
)
from hpc_handbook.hub.client import HubClient, HubError
from hpc_handbook.hub.kernels import KernelError, run_once, stream_text
from hpc_handbook.profile import OWN_ENVIRONMENT, Profile, SiteAccount
from hpc_handbook.reference_site.cpu_time import background_rate, process_cpu_seconds, session_cost
from hpc_handbook.reference_site.hub import hub_pids, hub_url
from hpc_handbook.reference_site.network_bench import measure_network, network_lines
from hpc_handbook.reference_site.restart_bench import measure_restarts
from hpc_handbook.reference_site.server_environment import form_environments
from hpc_handbook.reference_site.spawn_options import LOGIN_NODE
from hpc_handbook.reference_site.system import print_log
from hpc_handbook.reference_site.users import accounts, passwords

#: The cell every load-test account runs, and what it must print.
LOAD_CELL = "print(6 * 7)"
LOAD_OUTPUT = "42"
SPAWN_TIMEOUT_S = 240


@dataclass(frozen=True)
class Attempt:
    seconds: float
    failure: str | None = None


def percentile(values: list[float], share: float) -> float:
    """The `share` quantile, interpolated between the measured values (the largest for a few)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = share * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def spread(attempts: list[Attempt]) -> Spread:
    times = [a.seconds for a in attempts if a.failure is None]
    failures = [a.failure for a in attempts if a.failure is not None]
    return Spread(
        attempts=len(attempts),
        succeeded=len(times),
        median_s=round(statistics.median(times), 2) if times else None,
        p95_s=round(percentile(times, 0.95), 2) if times else None,
        first_failure=failures[0] if failures else None,
    )


def spawn_options(profile: Profile, place: str) -> dict[str, Any]:
    """What the spawn form sends for a place: the defaults a novice leaves as they are."""
    if place == LOGIN_NODE:
        return {"place": LOGIN_NODE}
    return {"place": place, "walltime": "00:30:00", "cpus": 1, "nodes": 1}


def _timed(step: Callable[[], object]) -> Attempt:
    started = time.monotonic()
    try:
        step()
    except (HubError, KernelError, TimeoutError) as error:
        return Attempt(time.monotonic() - started, str(error) or type(error).__name__)
    return Attempt(time.monotonic() - started)


def _spawn_and_stop(url: str, account: SiteAccount, password: str, options: dict[str, Any]) -> Attempt:
    """One spawn, timed from the request to a server that answers; the server is stopped after."""
    client = HubClient.login(url, account.name, password)
    try:
        outcome = client.start_and_wait(account.name, "", options, timeout_s=SPAWN_TIMEOUT_S)
        if not outcome.ready:
            return Attempt(outcome.seconds, outcome.messages[-1] if outcome.messages else "never ready")
        return Attempt(outcome.seconds)
    finally:
        client.stop(account.name)
        client.close()


def _session(url: str, account: SiteAccount, password: str, kernel: str, options: dict[str, Any]) -> None:
    """What one user does: log in, start a server where `options` say, run a cell, stop the server."""
    client = HubClient.login(url, account.name, password)
    try:
        outcome = client.start_and_wait(account.name, "", options, timeout_s=SPAWN_TIMEOUT_S)
        if not outcome.ready:
            raise HubError(outcome.messages[-1] if outcome.messages else "the server was never ready")
        cell = asyncio.run(run_once(client, account.name, "", kernel, LOAD_CELL, timeout_s=SPAWN_TIMEOUT_S))
        if stream_text(cell).strip() != LOAD_OUTPUT:
            raise KernelError(f"the cell printed {stream_text(cell)!r}, expected {LOAD_OUTPUT!r}")
    finally:
        client.stop(account.name, wait_s=120)
        client.close()


def measure_spawns(profile: Profile, account: SiteAccount, password: str, *, rounds: int) -> list[SpawnTimes]:
    """Each place in the default environment, then each other environment on the login node."""
    url = hub_url(profile)
    places = [LOGIN_NODE, *(p.name for p in profile.jupyter_partitions)]
    wanted: list[tuple[str, str | None]] = [(place, None) for place in places]
    wanted += [(LOGIN_NODE, e.key) for e in form_environments(profile, dt.date.today())[1:]]
    measured = []
    for place, environment in wanted:
        options = spawn_options(profile, place) | ({"environment": environment} if environment else {})
        with own_start_script(profile, account, environment):
            attempts = []
            for _ in range(rounds):
                try:
                    attempts.append(_spawn_and_stop(url, account, password, options))
                except HubError as error:
                    attempts.append(Attempt(0.0, str(error)))
        times = SpawnTimes(place=place, environment=environment, **spread(attempts).model_dump())
        print(f"service-bench: spawn on {times.where}: {_describe(times)}", flush=True)
        measured.append(times)
    return measured


@contextlib.contextmanager
def own_start_script(profile: Profile, account: SiteAccount, environment: str | None) -> Iterator[None]:
    """For the own environment: a start-up script of the account's that starts the default
    environment's server, as a user's script may; what was there before is put back."""
    own = profile.jupyter.own_environment
    if environment != OWN_ENVIRONMENT or own is None:
        yield
        return
    home = Path(pwd.getpwnam(account.name).pw_dir)
    script = home / own.script
    before = script.read_bytes() if script.exists() else None
    server = Path(form_environments(profile, dt.date.today())[0].bin) / "jupyterhub-singleuser"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(f'#!/bin/bash\nexec {server} "$@"\n', encoding="utf-8")
    script.chmod(0o700)
    for path in (script, script.parent):
        os.chown(path, pwd.getpwnam(account.name).pw_uid, pwd.getpwnam(account.name).pw_gid)
    try:
        yield
    finally:
        if before is None:
            script.unlink(missing_ok=True)
        else:
            script.write_bytes(before)


def load_places(profile: Profile) -> list[str]:
    """Where the load run's servers start, in turn: the login node, and the batch partition when
    Jupyter reaches it (its nodes have a CPU for every other account)."""
    batch = profile.batch_partition
    jupyter = {p.name for p in profile.jupyter_partitions}
    return [LOGIN_NODE, *([batch.name] if batch.name in jupyter else [])]


def measure_session_cpu(profile: Profile, account: SiteAccount, password: str, kernel: str) -> float:
    """One session alone on each load place: the mean CPU time it costs the machine (cpu_time.py)."""
    url = hub_url(profile)
    background = background_rate()
    used = []
    for place in load_places(profile):
        options = spawn_options(profile, place)
        session = functools.partial(_session, url, account, password, kernel, options)
        used.append(session_cost(session, hub_pids, background))
    return statistics.mean(used)


@dataclass
class ApiProbe:
    """A simple request to the hub's API every half second while the load run lasts."""

    url: str
    attempts: list[Attempt] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.done.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(f"{self.url}/hub/api/", timeout=30) as response:
                    response.read()
                self.attempts.append(Attempt(time.monotonic() - started))
            except OSError as error:
                self.attempts.append(Attempt(time.monotonic() - started, str(error)))
            self.done.wait(0.5)


@dataclass(frozen=True)
class LoadRun:
    sessions: Spread
    api: Spread
    #: The CPU time the hub's own process used during the run.
    hub_cpu_s: float


def measure_load(profile: Profile, load_accounts: list[SiteAccount], secrets: dict[str, str]) -> LoadRun:
    """Every account at once, each on the next load place in turn; the sessions' and the API's spread."""
    url = hub_url(profile)
    kernel = profile.kernel_roles["python"].name
    places = load_places(profile)

    def one(index: int, account: SiteAccount) -> Attempt:
        options = spawn_options(profile, places[index % len(places)])
        return _timed(lambda: _session(url, account, secrets[account.name], kernel, options))

    probe = ApiProbe(url)
    prober = threading.Thread(target=probe.run, daemon=True)
    hub, hub_before = hub_pids(), process_cpu_seconds(hub_pids())
    prober.start()
    try:
        with ThreadPoolExecutor(max_workers=len(load_accounts)) as pool:
            attempts = list(pool.map(one, range(len(load_accounts)), load_accounts))
    finally:
        probe.done.set()
        prober.join(timeout=60)
    hub_cpu = process_cpu_seconds(hub) - hub_before
    figures, api = spread(attempts), spread(probe.attempts)
    print(f"service-bench: {len(load_accounts)} users at once: {_describe(figures)}", flush=True)
    print(f"service-bench: the hub's API meanwhile ({api.attempts} requests): {_describe(api)}", flush=True)
    print(f"service-bench: the hub's own process used {hub_cpu:.1f} s of CPU meanwhile", flush=True)
    return LoadRun(figures, api, round(hub_cpu, 2))


def measure_restarts_of(profile: Profile, account: SiteAccount, password: str) -> list[RestartFigures]:
    """The hub restarted, then the proxy, while the account has a server on each load place."""
    places = {f"restart-{place}": spawn_options(profile, place) for place in load_places(profile)}
    with HubClient.login(hub_url(profile), account.name, password) as client:
        restarts = measure_restarts(
            profile, client, account.name, places, profile.kernel_roles["python"].name, print_log
        )
    for figures in restarts:
        print(f"service-bench: {figures.restarted} restarted: {_describe_restart(figures)}", flush=True)
    return restarts


def _describe_restart(figures: RestartFigures) -> str:
    text = f"{figures.servers_kept}/{figures.servers} servers and {figures.kernels_kept} kernels kept"
    if figures.cells_while_away is not None:
        text += f", {figures.cells_while_away} cells ran while it was away"
    if figures.back_s is not None:
        text += f", users back {figures.back_s:.1f} s after it started again"
    return text + (f"; {figures.failure}" if figures.failure else "")


def _describe(figures: Spread) -> str:
    text = f"{figures.succeeded}/{figures.attempts} succeeded"
    if figures.median_s is not None:
        text += f", median {figures.median_s:.1f} s, 95th percentile {figures.p95_s:.1f} s"
    if figures.first_failure:
        text += f"; first failure: {figures.first_failure}"
    return text


def format_table(measured: ServiceMeasurements) -> str:
    rows = [("Spawn, request to ready server", "Attempts", "Succeeded", "Median", "95th percentile")]
    for spawn in measured.spawns:
        rows.append((f"on {spawn.where}", *_cells(spawn)))
    rows.append((f"load: {measured.load_accounts} users log in, spawn, run a cell", *_cells(measured.load)))
    if measured.api is not None:
        rows.append(("the hub's API during the load run", *_cells(measured.api)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines += network_lines(measured)
    for figures in measured.restarts:
        lines.append(f"{figures.restarted} restarted with servers running: {_describe_restart(figures)}")
    bound, ratio = measured.load_lower_bound_s, measured.load_ratio
    if bound is not None and ratio is not None:
        lines.append(
            f"load run's lower bound: {measured.load_accounts} sessions of {measured.session_cpu_s:.1f} s "
            f"CPU over {measured.cores} cores = {bound:.1f} s; 95th percentile / lower bound = {ratio:.2f}"
        )
    if measured.hub_cpu_s is not None:
        lines.append(f"the hub's own process used {measured.hub_cpu_s:.1f} s of CPU during the load run")
    return "\n".join(lines)


def _cells(figures: Spread) -> tuple[str, str, str, str]:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    return (str(figures.attempts), str(figures.succeeded), seconds(figures.median_s), seconds(figures.p95_s))


def run_service_bench(profile: Profile, *, rounds: int, output: Path) -> int:
    """Measure spawns and the load run, print the table and write the measurements file."""
    load_accounts = [a for a in accounts(profile) if a.purpose == "load-test"]
    if profile.reference_site is None or not load_accounts:
        print("error: the profile declares no reference_site.load_test accounts", file=sys.stderr)
        return 2
    secrets = passwords(profile)
    url = hub_url(profile)
    try:
        with HubClient.login(url, load_accounts[0].name, secrets[load_accounts[0].name]) as client:
            version = client.version()
    except HubError as error:
        print(f"error: {error} (is the site up? `nox -s site -- up`)", file=sys.stderr)
        return 1
    print(f"service-bench: JupyterHub {version} at {url}, {rounds} spawns per place", flush=True)
    spawns = measure_spawns(profile, load_accounts[0], secrets[load_accounts[0].name], rounds=rounds)
    first = load_accounts[0]
    session_cpu = measure_session_cpu(
        profile, first, secrets[first.name], profile.kernel_roles["python"].name
    )
    load = measure_load(profile, load_accounts, secrets)
    restarts = measure_restarts_of(profile, first, secrets[first.name])
    network, cut, network_skipped = measure_network(profile, first.name, secrets[first.name], print_log)
    measured = ServiceMeasurements(
        site=profile.site.short_name,
        date=dt.date.today().isoformat(),
        hub_version=version,
        spawns=spawns,
        load_accounts=len(load_accounts),
        load=load.sessions,
        hub_cpu_s=load.hub_cpu_s,
        load_places=load_places(profile),
        session_cpu_s=round(session_cpu, 2),
        cores=os.cpu_count(),
        api=load.api,
        restarts=restarts,
        network=network,
        cut=cut,
        network_skipped=network_skipped,
        measured_on=MeasuredOn(
            places=sorted({spawn.place for spawn in spawns}),
            environments=[spawn.environment for spawn in spawns if spawn.environment],
        ),
    )
    write_json(output, measured)
    print(format_table(measured))
    print(f"service-bench: wrote {output}")
    return 0
