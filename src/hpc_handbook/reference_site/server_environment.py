"""The users' server environment: what the profile's `jupyter:` section promises, really installed.

Every JupyterLab extension the profile names is installed into the servers' venv from its
pinned package, and every server-proxy application is installed and configured, so the
Launcher shows its tile. The probe reads all of it back from a user's own server, and the
drift check compares that with the profile.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.paths import LMOD_CMD, ReferenceSiteError

#: The package that provides each extension a profile may declare, pinned like the hub.
EXTENSION_PACKAGES = {
    "jupyterlab-lmod": "jupyterlmod==5.3.2",
    "jupyter-server-proxy": "jupyter-server-proxy==4.6.0",
}


@dataclass(frozen=True)
class ProxyApp:
    """A web application jupyter-server-proxy starts on demand, with its Launcher tile."""

    package: str
    title: str
    #: The command, with `{bin}` for the servers' venv's bin folder; `{port}` is the proxy's own.
    command: tuple[str, ...]


#: The server-proxy applications a profile may allow.
PROXY_APPS = {
    "tensorboard": ProxyApp(
        package="tensorboard==2.21.0",
        title="TensorBoard",
        # Logs anywhere in the user's folder; loopback only, like every server of the site.
        command=("{bin}/tensorboard", "--logdir", ".", "--port", "{port}", "--host", "127.0.0.1"),
    ),
}


def _unknown(kind: str, names: list[str], known: dict[str, Any]) -> None:
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ReferenceSiteError(
            f"site.yml jupyter: the reference site cannot install {kind} {', '.join(unknown)} "
            f"(it knows {', '.join(sorted(known))})"
        )


def server_packages(profile: Profile) -> list[str]:
    """The packages the servers' venv needs beyond the hub's own for the profile's `jupyter:`."""
    jupyter = profile.jupyter
    _unknown("extension", jupyter.extensions, EXTENSION_PACKAGES)
    _unknown("server-proxy application", jupyter.server_proxy_allowed, PROXY_APPS)
    apps = [PROXY_APPS[name] for name in jupyter.server_proxy_allowed]
    if apps and "jupyter-server-proxy" not in jupyter.extensions:
        raise ReferenceSiteError(
            "site.yml jupyter: server_proxy_allowed needs jupyter-server-proxy among the extensions"
        )
    return sorted({*(EXTENSION_PACKAGES[name] for name in jupyter.extensions), *(a.package for a in apps)})


def server_config(profile: Profile, bin_dir: Path) -> dict[str, Any]:
    """The servers' own configuration (`jupyter_server_config.json` in their venv), from the profile."""
    servers = {
        name: {
            "command": [part.replace("{bin}", str(bin_dir)) for part in PROXY_APPS[name].command],
            "launcher_entry": {"enabled": True, "title": PROXY_APPS[name].title},
            "timeout": 30,
        }
        for name in profile.jupyter.server_proxy_allowed
    }
    config: dict[str, Any] = {
        # Users who may not install extensions see the installed ones, and no install button.
        "LabApp": {
            "extension_manager": "pypi" if profile.jupyter.users_can_install_extensions else "readonly"
        },
    }
    if servers:
        config["ServerProxy"] = {"servers": servers}
    return config


def write_server_config(profile: Profile, venv: Path) -> dict[Path, str]:
    """The configuration file for the servers' venv, by path.

    Not in `jupyter_server_config.d`: the server reads only extension switches from there.
    """
    path = venv / "etc" / "jupyter" / "jupyter_server_config.json"
    return {path: json.dumps(server_config(profile, venv / "bin"), indent=1, sort_keys=True) + "\n"}


def server_environment_variables(profile: Profile) -> dict[str, str]:
    """What servers need beyond PATH: where Lmod is and the module tree, for the module panel."""
    return {"LMOD_CMD": str(LMOD_CMD), "MODULEPATH": ":".join(profile.modules.paths)}
