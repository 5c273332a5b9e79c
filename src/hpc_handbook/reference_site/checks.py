"""Checks of the running reference site: what `site status` shows and the smoke tests rely on."""

from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.accounting import (
    ACCOUNTING_DAEMONS,
    accounting_drift,
    accounting_state,
    controller_problems,
)
from hpc_handbook.reference_site.containers import check_image
from hpc_handbook.reference_site.hub import (
    hub_answers,
    hub_pids,
    hub_url,
    hub_versions,
    spawn_places,
)
from hpc_handbook.reference_site.kernels import kernelspec, site_jupyter_env
from hpc_handbook.reference_site.lmod import module_command, plan_modules
from hpc_handbook.reference_site.paths import SITE_JUPYTER_DIR, SLURM_CONF, ReferenceSiteError
from hpc_handbook.reference_site.proxy import PROXY_TOKEN_FILE, proxy_answers, proxy_pids, proxy_ports
from hpc_handbook.reference_site.server_environment import form_environments
from hpc_handbook.reference_site.slurm import SLURM_DAEMONS, partition_states
from hpc_handbook.reference_site.slurm_conf import site_nodes, slurm_conf
from hpc_handbook.reference_site.slurm_nodes import node_ready, node_states
from hpc_handbook.reference_site.system import dedupe, find_processes, node_name, run
from hpc_handbook.reference_site.users import account_folders, accounts


@dataclass(frozen=True)
class Check:
    component: Literal[
        "daemon",
        "config",
        "node",
        "partition",
        "kernel",
        "image",
        "module",
        "hub",
        "environment",
        "account",
        "accounting",
    ]
    name: str
    ok: bool
    detail: str


def _check_daemons() -> list[Check]:
    checks = []
    for daemon in ("munged", *ACCOUNTING_DAEMONS, *SLURM_DAEMONS):
        pids = find_processes(daemon)
        checks.append(
            Check("daemon", daemon, bool(pids), f"pid {', '.join(map(str, pids))}" if pids else "not running")
        )
    return checks


def _check_slurm(profile: Profile) -> list[Check]:
    checks = []
    try:
        current = SLURM_CONF.read_text(encoding="utf-8")
    except OSError:
        current = ""
    expected = slurm_conf(profile, controller=node_name())
    checks.append(
        Check(
            "config",
            str(SLURM_CONF),
            current == expected,
            "matches the profile" if current == expected else "missing or not this profile's: run `site up`",
        )
    )
    states = node_states()
    for node in site_nodes(profile):
        state = states.get(node.name)
        detail = f"{state or 'not reachable in sinfo'} (partition {node.partition})"
        checks.append(Check("node", node.name, state is not None and node_ready(state), detail))
    partitions = partition_states()
    for partition in profile.partitions:
        found = partitions.get(partition.name)
        if found is None:
            checks.append(Check("partition", partition.name, False, "missing from sinfo"))
            continue
        availability, node_states_ = found
        ok = availability == "up" and all(node_ready(state) for state in node_states_)
        summary = ", ".join(f"{count} {state}" for state, count in sorted(Counter(node_states_).items()))
        checks.append(Check("partition", partition.name, ok, f"{availability}, nodes: {summary}"))
    return checks


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _check_images(profile: Profile) -> list[Check]:
    checks = []
    for image in profile.containers:
        problem = check_image(profile, image)
        checks.append(Check("image", image.reference, problem is None, problem or image.description))
    return checks


def _check_kernels(profile: Profile, jupyter_dir: Path) -> list[Check]:
    env = site_jupyter_env()
    env["JUPYTER_PATH"] = os.pathsep.join(dedupe([str(jupyter_dir), *env["JUPYTER_PATH"].split(os.pathsep)]))
    result = run(
        [sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"], check=False, env=env, timeout=60
    )
    try:
        found = json.loads(result.stdout)["kernelspecs"]
    except (ValueError, KeyError):
        return [
            Check("kernel", k.name, False, f"jupyter kernelspec list failed: {result.stderr}")
            for k in profile.kernels
        ]
    checks = []
    for kernel in profile.kernels:
        entry = found.get(kernel.name)
        if entry is None:
            checks.append(Check("kernel", kernel.name, False, "no kernelspec"))
            continue
        where = Path(entry["resource_dir"])
        argv = entry["spec"]["argv"]
        if where != jupyter_dir / "kernels" / kernel.name:
            checks.append(Check("kernel", kernel.name, False, f"shadowed by {where}"))
        elif read_json(where / "kernel.json") != kernelspec(kernel, profile):
            checks.append(
                Check("kernel", kernel.name, False, f"{where} is not this profile's: run `site up`")
            )
        elif not os.access(argv[0], os.X_OK) and shutil.which(argv[0]) is None:
            checks.append(Check("kernel", kernel.name, False, f"{argv[0]} is missing"))
        else:
            checks.append(Check("kernel", kernel.name, True, f"{kernel.start}: {where}"))
    return checks


def terse_avail(profile: Profile, *options: str) -> set[str]:
    result = module_command([*options, "--terse", "avail"], profile)
    return {line.strip().removesuffix("(default)") for line in result.stderr.splitlines() if line.strip()}


def _check_modules(profile: Profile) -> list[Check]:
    available = terse_avail(profile)
    # Lmod lists a family's marked default, or its only version, under --default.
    defaults = terse_avail(profile, "--default")
    checks = []
    for module in plan_modules(profile):
        if module.name not in available:
            checks.append(Check("module", module.name, False, "not in `module avail`"))
        elif (module.name in defaults) != module.default:
            expected = "the default" if module.default else "not the default"
            checks.append(Check("module", module.name, False, f"should be {expected} of {module.family}"))
        else:
            checks.append(Check("module", module.name, True, "default" if module.default else "available"))
    return checks


def _check_proxy(profile: Profile, version: str) -> Check:
    """The proxy runs apart from the hub: it must run and answer the site's token on its API."""
    pids, ports = proxy_pids(), proxy_ports(profile)
    token = PROXY_TOKEN_FILE.read_text(encoding="utf-8").strip() if PROXY_TOKEN_FILE.exists() else ""
    if not pids:
        return Check("hub", "configurable-http-proxy", False, "not running")
    if not proxy_answers(ports, token):
        return Check("hub", "configurable-http-proxy", False, f"runs but does not answer at {ports.api_url}")
    return Check("hub", "configurable-http-proxy", True, f"{version}, pid {', '.join(map(str, pids))}")


def _check_hub(profile: Profile) -> list[Check]:
    """The hub, its proxy and the form's places; the versions come from the hub's own venv."""
    if profile.reference_site is None:
        return []
    url = hub_url(profile)
    answer = hub_answers(url)
    versions = hub_versions(profile)
    pids = hub_pids()
    checks = [
        Check(
            "hub",
            "jupyterhub",
            bool(pids) and answer is not None,
            f"{answer.get('version')} at {url}, pid {', '.join(map(str, pids))}"
            if answer and pids
            else f"not answering at {url}",
        ),
        _check_proxy(profile, versions.get("configurable-http-proxy", "?")),
        Check(
            "hub",
            "spawner",
            "batchspawner" in versions,
            f"jupyterhub-moss {versions.get('jupyterhub_moss', '?')} (MOSlurmSpawner), batchspawner "
            f"{versions.get('batchspawner', '?')}, wrapspawner {versions.get('wrapspawner', '?')}, "
            f"JupyterLab {versions.get('jupyterlab', '?')}",
        ),
        Check(
            "hub",
            "spawn form",
            True,
            "; ".join(place.key for place in spawn_places(profile)),
        ),
        *_check_environments(profile),
    ]
    return checks


def _check_environments(profile: Profile) -> list[Check]:
    """Each environment the form offers has its venv, with the hub's single-user server in it."""
    checks = []
    for environment in form_environments(profile, dt.date.today()):
        server = Path(environment.bin) / "jupyterhub-singleuser"
        ok = server.exists()
        detail = environment.label if ok else f"{server} is missing: run `site up`"
        checks.append(Check("environment", environment.key, ok, detail))
    return checks


def _check_accounts(profile: Profile) -> list[Check]:
    checks = []
    for account in accounts(profile):
        try:
            pwd.getpwnam(account.name)
        except KeyError:
            checks.append(Check("account", account.name, False, "no such user: run `site up`"))
            continue
        missing = [name for name, folder in account_folders(profile, account).items() if not folder.is_dir()]
        detail = f"{account.purpose}, project {account.project}"
        checks.append(
            Check(
                "account",
                account.name,
                not missing,
                detail + (f"; missing {', '.join(missing)}" if missing else ""),
            )
        )
    return checks


def _check_accounting(profile: Profile) -> list[Check]:
    """The projects in slurmdbd, with their limits and members, as the profile says."""
    try:
        drift = accounting_drift(profile, accounting_state(profile))
    except ReferenceSiteError as error:
        return [Check("accounting", "projects", False, str(error))]
    drift += [f"slurmctld: {problem}" for problem in controller_problems(profile)]
    return [
        Check(
            "accounting",
            "projects",
            not drift,
            "; ".join(drift) if drift else "projects, their limits and members as the profile says",
        )
    ]


def check_site(profile: Profile, *, jupyter_dir: Path = SITE_JUPYTER_DIR) -> list[Check]:
    """Every component of the site, with whether it is up; nothing here changes the site.

    `jupyter_dir` is where the kernelspecs are expected (a test points it at a copy).
    """
    return [
        *_check_daemons(),
        *_check_slurm(profile),
        *_check_kernels(profile, jupyter_dir),
        *_check_images(profile),
        *_check_modules(profile),
        *_check_accounts(profile),
        *_check_accounting(profile),
        *_check_hub(profile),
    ]


def show_status(profile: Profile, checks: Sequence[Check]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    titles = {
        "daemon": "Daemons",
        "config": "Configuration",
        "node": "Slurm node",
        "partition": "Partitions",
        "kernel": "Kernels (jupyter kernelspec list, site first)",
        "image": "Container images (the site's read-only store)",
        "module": "Modules (module avail)",
        "account": "Test accounts",
        "accounting": "Slurm accounting (sacctmgr)",
        "hub": "JupyterHub",
    }
    console.print(f"[bold]{profile.site.name}[/bold] reference site")
    for component, title in titles.items():
        rows = [c for c in checks if c.component == component]
        if not rows:
            continue
        table = Table(title=title, title_justify="left")
        table.add_column("name")
        table.add_column("state")
        table.add_column("detail")
        for check in rows:
            table.add_row(check.name, "[green]up[/green]" if check.ok else "[red]DOWN[/red]", check.detail)
        console.print(table)
