"""The reference site's proxy (configurable-http-proxy): a daemon of its own, outside the hub.

Users reach their servers through the proxy, never through the hub. Run apart from the hub, as
real sites run it, the proxy keeps its routes while the hub restarts (an upgrade, a new
configuration, a crash), so users' servers, kernels and open notebooks carry on. The hub is told
not to start it (`ConfigurableHTTPProxy.should_start = False`) and reaches its API with a shared
token. A proxy that itself restarts has lost its routes: the hub puts them back at its next
activity check, every ROUTES_CHECK_S seconds (`JupyterHub.last_activity_interval`); until then
the proxy sends everything to the hub, whose pages still answer.
"""

from __future__ import annotations

import contextlib
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from hpc_handbook.processes import terminate
from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.paths import SITE_LOG_DIR, ReferenceSiteError
from hpc_handbook.reference_site.system import Log, ensure_token, find_processes, wait_for
from hpc_handbook.reference_site.users import SECRETS_DIR

PROXY = Path("/usr/bin/configurable-http-proxy")
#: Debian's proxy finds its own modules there, whichever Node.js runs it.
NODE_PATH = "/usr/share/nodejs"
PROXY_LOG = SITE_LOG_DIR / "configurable-http-proxy.log"
PROXY_TOKEN_FILE = SECRETS_DIR / "proxy-token"
#: How often the hub checks the proxy's routes, and so how long a restarted proxy lacks them.
ROUTES_CHECK_S = 15


@dataclass(frozen=True)
class ProxyPorts:
    """Where the proxy listens (users, and the hub's API calls) and where it sends what has no route."""

    public: int
    api: int
    hub: int

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api}"


def proxy_ports(profile: Profile) -> ProxyPorts:
    assert profile.reference_site is not None
    setup = profile.reference_site
    return ProxyPorts(public=setup.hub_port, api=setup.hub_port + 1, hub=setup.hub_api_port)


def proxy_command(ports: ProxyPorts) -> list[str]:
    hub = f"http://127.0.0.1:{ports.hub}"
    return [
        str(PROXY),
        "--ip=127.0.0.1",
        f"--port={ports.public}",
        "--api-ip=127.0.0.1",
        f"--api-port={ports.api}",
        # Until the hub has added a route for a server, its requests reach the hub (which says why).
        f"--default-target={hub}",
        f"--error-target={hub}/hub/error",
    ]


def proxy_environment(token: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/root", "NODE_PATH": NODE_PATH} | {
        "CONFIGPROXY_AUTH_TOKEN": token
    }


def proxy_pids() -> list[int]:
    found = []
    for pid in find_processes("node") + find_processes("configurable-h"):
        with contextlib.suppress(OSError):
            if str(PROXY) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                found.append(pid)
    return found


def proxy_answers(ports: ProxyPorts, token: str, timeout_s: float = 3) -> bool:
    """Whether the proxy's API answers the site's token (its routing table)."""
    request = urllib.request.Request(
        f"{ports.api_url}/api/routes", headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def start_proxy(profile: Profile, log: Log) -> None:
    ports, token = proxy_ports(profile), ensure_token(PROXY_TOKEN_FILE)
    log(f"starting configurable-http-proxy on http://127.0.0.1:{ports.public}")
    PROXY_LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(PROXY_LOG, "ab") as output:
        # Detached like the hub, so that neither's restart takes the other along.
        subprocess.run(
            ["setsid", "--fork", *proxy_command(ports)],
            check=True,
            env=proxy_environment(token),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
        )
    try:
        wait_for(lambda: proxy_answers(ports, token), timeout_s=30, what="configurable-http-proxy to answer")
    except ReferenceSiteError:
        stop_proxy()
        raise ReferenceSiteError(f"configurable-http-proxy did not start: see {PROXY_LOG}") from None


def stop_proxy(log: Log | None = None) -> None:
    if proxy_pids() and log:
        log("stopping configurable-http-proxy")
    terminate(proxy_pids(), grace=10)


def ensure_proxy(profile: Profile, log: Log) -> bool:
    """The proxy running and answering; True when it was (re)started, and so has no routes yet."""
    ports, token = proxy_ports(profile), ensure_token(PROXY_TOKEN_FILE)
    if proxy_pids() and proxy_answers(ports, token):
        return False
    if proxy_pids():
        log(f"configurable-http-proxy does not answer at {ports.api_url}: restarting it")
        stop_proxy()
    start_proxy(profile, log)
    return True
