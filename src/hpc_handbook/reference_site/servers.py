"""Stopping every user's server on purpose, now that a hub that stops leaves them running.

The hub runs with `cleanup_servers = False`, so that restarting it (an upgrade, a crash) keeps
users' servers, kernels and Slurm jobs. `site down` and `reset` must therefore end them
themselves: first through the hub, which stops each server as its spawner knows how (the
process on the login node, the Slurm job) and forgets it; then whatever the accounts still run,
in case the hub was not answering.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from hpc_handbook.processes import terminate
from hpc_handbook.reference_site.system import Log, run
from hpc_handbook.reference_site.users import SECRETS_DIR

#: The site's own service token: it may list users and stop their servers, nothing else.
SITE_TOKEN_FILE = SECRETS_DIR / "site-token"
SITE_SERVICE_SCOPES = ("list:users", "read:servers", "delete:servers")


def _api(hub_api: str, token: str, path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(
        f"{hub_api}/hub/api{path}", method=method, headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    return json.loads(body) if body else None


def running_servers(hub_api: str, token: str) -> list[tuple[str, str]]:
    """(user, server name) of every server the hub runs or is starting or stopping; "" names the default."""
    users = _api(hub_api, token, "/users?state=active&limit=1000")
    # Older hubs answer a list; 5.x with pagination asked for answers {"items": [...]}.
    items = users["items"] if isinstance(users, dict) else users
    return [(user["name"], name) for user in items for name in (user.get("servers") or {})]


def server_path(user: str, name: str) -> str:
    quoted = urllib.parse.quote(user, safe="")
    return (
        f"/users/{quoted}/servers/{urllib.parse.quote(name, safe='')}" if name else f"/users/{quoted}/server"
    )


def stop_servers_through_hub(hub_api: str, token: str, log: Log, *, timeout_s: float = 120) -> list[str]:
    """Ask the hub to stop every server and wait until it has; the servers it could not stop, named."""
    try:
        servers = running_servers(hub_api, token)
    except (OSError, urllib.error.URLError, ValueError, KeyError) as error:
        log(f"the hub did not list its servers ({error}): ending the accounts' processes instead")
        return []
    if not servers:
        return []
    log(f"stopping {len(servers)} server(s) through the hub")
    for user, name in servers:
        try:
            _api(hub_api, token, server_path(user, name), method="DELETE")
        except (OSError, urllib.error.URLError) as error:
            log(f"the hub did not stop {user}'s server {name or '(default)'}: {error}")
    deadline = time.monotonic() + timeout_s
    left = servers
    while left and time.monotonic() < deadline:
        time.sleep(1)
        try:
            left = running_servers(hub_api, token)
        except (OSError, urllib.error.URLError, ValueError, KeyError):
            break
    return [f"{user}/{name}" for user, name in left]


def end_account_processes(names: Sequence[str], *, grace: float = 10) -> list[int]:
    """End every process the site's accounts still run (servers, kernels, their helpers)."""
    pids = []
    for name in names:
        listed = run(["pgrep", "-u", name], check=False).stdout.split()
        pids += [int(pid) for pid in listed]
    terminate(pids, grace=grace)
    return pids
