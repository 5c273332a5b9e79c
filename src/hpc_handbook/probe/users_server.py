"""The users' Jupyter environment, read from a server the hub started as users' servers start.

What the pages say about JupyterLab (its version, its extensions, the applications the
server proxy opens) must be what a user's server has, not what the probe's own Python
happens to have installed. The probe asks the server it started as the doc CI's account:

- `/api/` for the Jupyter server's version,
- `/lab` for the JupyterLab version that the page gives the browser,
- `/lab/api/extensions` for the installed Lab extensions (JupyterLab's extension manager),
- `/server-proxy/servers-info` for the proxy's applications (absent without the proxy).
"""

from __future__ import annotations

import json
import re
from typing import Any

from hpc_handbook.data.snapshot import Extension, Jupyter
from hpc_handbook.hub.client import HubClient, HubError

#: The page config JupyterLab embeds in `/lab` for the browser.
_PAGE_CONFIG = re.compile(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', re.S)


def _lab_version(page: str) -> str | None:
    match = _PAGE_CONFIG.search(page)
    if match is None:
        return None
    try:
        return json.loads(match.group(1)).get("appVersion")
    except ValueError:
        return None


def _lab_extensions(listing: Any) -> dict[str, Extension]:
    """JupyterLab's extension manager lists installed extensions with their versions."""
    found = {}
    for entry in listing if isinstance(listing, list) else []:
        if isinstance(entry, dict) and entry.get("installed"):
            package = (entry.get("install") or {}).get("packageName")
            found[str(entry["name"])] = Extension(
                version=entry.get("installed_version") or None,
                enabled=bool(entry.get("enabled")),
                package=str(package) if package else None,
            )
    return dict(sorted(found.items()))


def probe_users_server(client: HubClient, user: str, server: str) -> Jupyter:
    """The Jupyter part of the snapshot, from a running server of the user's."""
    packages: dict[str, str] = {}
    server_info = client.server_request(user, server, "/api/")
    if isinstance(server_info, dict) and server_info.get("version"):
        packages["jupyter_server"] = str(server_info["version"])
    lab_version = _lab_version(client.server_page(user, server, "lab"))
    if lab_version:
        packages["jupyterlab"] = lab_version
    extensions = _lab_extensions(client.server_request(user, server, "/lab/api/extensions"))
    try:
        proxy = client.server_request(user, server, "/server-proxy/servers-info")
    except HubError:
        proxy = None  # no server proxy in this environment
    apps = [str(s["name"]) for s in (proxy or {}).get("server_processes", []) if isinstance(s, dict)]
    return Jupyter(
        source="users-server", packages=packages, lab_extensions=extensions, proxy_apps=sorted(apps)
    )
