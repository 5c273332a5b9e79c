"""The users' server environments: what the profile's `jupyter:` section promises, really installed.

Each JupyterLab environment of the profile is a venv of its own under the site prefix, built
with uv: the hub's single-user server at the hub's version, the environment's JupyterLab, and
the package of every extension it names at a release made for that JupyterLab. Every
server-proxy application is installed and configured where the proxy is, so the Launcher
shows its tile. A server from a user's own start-up script starts through a small launcher
folder (`own/bin`) whose `jupyterhub-singleuser` runs the script. The probe reads all of it
back from servers started in each environment, and the drift check compares that with the
profile.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpc_handbook.profile import OWN_ENVIRONMENT, JupyterEnvironment, Profile
from hpc_handbook.reference_site.own_environment import MESSAGES
from hpc_handbook.reference_site.paths import LMOD_CMD, ReferenceSiteError, site_layout
from hpc_handbook.reference_site.spawn_options import Environment
from hpc_handbook.reference_site.system import Log, ensure_venv, remove, write_if_changed

#: The JupyterLab of an environment that names none, and of the hub's own venv.
DEFAULT_JUPYTERLAB = "4.5.6"
#: The hub's JupyterHub release; every environment's single-user server has the same.
HUB_VERSION = "5.5.4"
#: What every environment has, whatever its JupyterLab: the hub's single-user server (its major
#: version must match the hub's) and batchspawner's, for servers in Slurm jobs.
SERVER_PACKAGES = (f"jupyterhub=={HUB_VERSION}", "batchspawner==1.3.0")
#: What the pages' "Open on the hub" links need in every environment: nbgitpuller pulls the
#: handbook's examples into the home (its `git-pull` page).
LAUNCH_PACKAGES = ("nbgitpuller==1.3.0",)
#: The package of each extension a profile may declare, pinned per JupyterLab line (`4.5`).
EXTENSION_PACKAGES = {
    "jupyterlab-lmod": {"4.5": "jupyterlmod==5.3.2", "4.2": "jupyterlmod==5.2.2"},
    "jupyter-server-proxy": {"4.5": "jupyter-server-proxy==4.6.0", "4.2": "jupyter-server-proxy==4.4.0"},
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


def _proxy_apps(profile: Profile, environment: JupyterEnvironment) -> list[str]:
    """The proxy's applications where the environment has the proxy; none where it has not."""
    return (
        list(profile.jupyter.server_proxy_allowed) if "jupyter-server-proxy" in environment.extensions else []
    )


def environment_packages(profile: Profile, environment: JupyterEnvironment) -> list[str]:
    """Everything an environment's venv has: the servers, its JupyterLab, its extensions, the proxy's apps."""
    jupyter = profile.jupyter
    _unknown("extension", environment.extensions, EXTENSION_PACKAGES)
    _unknown("server-proxy application", jupyter.server_proxy_allowed, PROXY_APPS)
    if jupyter.server_proxy_allowed and not any(
        "jupyter-server-proxy" in e.extensions for e in jupyter.offered
    ):
        raise ReferenceSiteError(
            "site.yml jupyter: server_proxy_allowed needs jupyter-server-proxy in an environment's extensions"
        )
    lab = environment.jupyterlab or DEFAULT_JUPYTERLAB
    line = ".".join(lab.split(".")[:2])
    pins = []
    for name in environment.extensions:
        if line not in EXTENSION_PACKAGES[name]:
            raise ReferenceSiteError(
                f"site.yml jupyter.environments {environment.name}: the reference site has no release of "
                f"{name} for JupyterLab {line} (it has one for {', '.join(sorted(EXTENSION_PACKAGES[name]))})"
            )
        pins.append(EXTENSION_PACKAGES[name][line])
    apps = [PROXY_APPS[name].package for name in _proxy_apps(profile, environment)]
    return sorted({*SERVER_PACKAGES, *LAUNCH_PACKAGES, f"jupyterlab=={lab}", *pins, *apps})


def server_config(profile: Profile, environment: JupyterEnvironment, bin_dir: Path) -> dict[str, Any]:
    """A server's own configuration (`jupyter_server_config.json` in its environment), from the profile."""
    servers = {
        name: {
            "command": [part.replace("{bin}", str(bin_dir)) for part in PROXY_APPS[name].command],
            "launcher_entry": {"enabled": True, "title": PROXY_APPS[name].title},
            "timeout": 30,
        }
        for name in _proxy_apps(profile, environment)
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


def server_config_file(profile: Profile, environment: JupyterEnvironment, venv: Path) -> dict[Path, str]:
    """The configuration file of an environment's venv, by path.

    Not in `jupyter_server_config.d`: the server reads only extension switches from there.
    """
    path = venv / "etc" / "jupyter" / "jupyter_server_config.json"
    config = server_config(profile, environment, venv / "bin")
    return {path: json.dumps(config, indent=1, sort_keys=True) + "\n"}


def server_environment_variables(profile: Profile) -> dict[str, str]:
    """What servers need beyond PATH: where Lmod is and the module tree, for the module panel."""
    return {"LMOD_CMD": str(LMOD_CMD), "MODULEPATH": ":".join(profile.modules.paths)}


#: Where JupyterLab keeps an environment's settings and workspaces in the home, apart from the others'.
SETTINGS_FOLDER = ".jupyter/lab/environments/{name}"
#: The launcher the user's own environment starts through: it runs the start-up script.
OWN_LAUNCHER = """#!{python}
\"\"\"Start a user's own server: run the start-up script the spawn form's own environment names.

JupyterHub (or batchspawner-singleuser, which runs this file in its own process) passes the
server's arguments; the script ends by starting jupyterhub-singleuser with them.
\"\"\"
import os
import sys

script = os.environ["HANDBOOK_START_SCRIPT"]
os.execv(script, [script, *sys.argv[1:]])
"""


def environments_dir(profile: Profile) -> Path:
    return site_layout(profile).prefix / "hub" / "envs"


def own_bin(profile: Profile) -> Path:
    return site_layout(profile).prefix / "hub" / "own" / "bin"


def form_environments(profile: Profile, today: dt.date) -> list[Environment]:
    """What the spawn form offers: the environments not yet retired, the default first, then the own."""
    offered = [
        Environment(
            key=e.name,
            label=e.label,
            bin=str(environments_dir(profile) / e.name / "bin"),
            settings=SETTINGS_FOLDER.format(name=e.name),
        )
        for e in profile.jupyter.available(today)
    ]
    own = profile.jupyter.own_environment
    if own is not None:
        label = MESSAGES["own_environment_label"].format(script=own.script)
        offered.append(
            Environment(key=OWN_ENVIRONMENT, label=label, bin=str(own_bin(profile)), script=own.script)
        )
    return offered


def ensure_environments(profile: Profile, python: Path, log: Log, today: dt.date) -> bool:
    """Each offered environment's venv and configuration, the own environment's launcher, and no
    venv of an environment the form no longer offers; True when anything changed."""
    changed = False
    wanted = profile.jupyter.available(today)
    for environment in wanted:
        venv = environments_dir(profile) / environment.name
        if ensure_venv(venv, environment_packages(profile, environment), python, log):
            # The server brings ipykernel's own python3 kernelspec: only the site's may show.
            remove(venv / "share" / "jupyter" / "kernels")
            changed = True
        for path, text in server_config_file(profile, environment, venv).items():
            changed |= write_if_changed(path, text)
    names = {environment.name for environment in wanted}
    for folder in sorted(environments_dir(profile).glob("*")) if environments_dir(profile).is_dir() else []:
        if folder.name not in names:
            log(f"removing the environment {folder.name}, which the profile no longer offers")
            remove(folder)
            changed = True
    return _ensure_own_launcher(profile, wanted[0]) or changed


def _ensure_own_launcher(profile: Profile, default: JupyterEnvironment) -> bool:
    """`own/bin`: the launcher, and batchspawner's single-user command from the default environment."""
    folder = own_bin(profile)
    if profile.jupyter.own_environment is None:
        if folder.parent.exists():
            remove(folder.parent)
            return True
        return False
    folder.mkdir(parents=True, exist_ok=True)
    default_bin = environments_dir(profile) / default.name / "bin"
    changed = write_if_changed(
        folder / "jupyterhub-singleuser", OWN_LAUNCHER.format(python=default_bin / "python"), mode=0o755
    )
    link = folder / "batchspawner-singleuser"
    target = default_bin / "batchspawner-singleuser"
    if not link.is_symlink() or link.readlink() != target:
        remove(link)
        link.symlink_to(target)
        changed = True
    return changed
