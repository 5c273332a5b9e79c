"""Drift between the profile and the hub users meet: its spawn form, its JupyterLab environments
and the kernels a server lists."""

from __future__ import annotations

import datetime as dt

from hpc_handbook.data.snapshot import HubService, Snapshot
from hpc_handbook.drift.findings import Drift
from hpc_handbook.profile import OWN_ENVIRONMENT, Profile


def hub_drift(profile: Profile, snapshot: Snapshot) -> list[Drift]:
    """What the profile says users get from the hub, against what the probe found there."""
    hub = snapshot.hub
    if profile.hub is None or hub is None:
        return []
    if hub.version is None:
        return [Drift("hub", hub.url, "answer", f"the hub did not answer the probe: {hub.error}")]
    found = [
        Drift(
            "partition",
            partition.name,
            "spawn-form",
            "site.yml says Jupyter reaches it, but the hub's spawn form does not offer it",
        )
        for partition in profile.jupyter_partitions
        if hub.form_places and partition.name not in {place.value for place in hub.form_places}
    ]
    if hub.server_kernels is None:
        if hub.error:
            found.append(Drift("hub", hub.url, "server", hub.error))
        return found
    found += [
        Drift(
            "kernel",
            kernel.name,
            "server",
            "in site.yml, but a user's server does not list it: JupyterLab's Launcher has no such tile",
        )
        for kernel in profile.kernels
        if kernel.name not in hub.server_kernels
    ]
    return found


def jupyter_drift(profile: Profile, snapshot: Snapshot) -> list[Drift]:
    """The extensions and server-proxy applications the profile promises, against users' servers."""
    jupyter = snapshot.jupyter
    if jupyter.source != "users-server":
        return []  # only a user's own server says what users have
    if jupyter.error:
        return [
            Drift(
                "jupyter", "users' servers", "answer", f"users' servers could not be asked: {jupyter.error}"
            )
        ]
    found = [
        Drift("jupyter", name, "extension", "in site.yml, but users' servers do not have this extension")
        for name in profile.jupyter.default_environment.extensions
        if not jupyter.has_extension(name)
    ]
    found += [
        Drift(
            "jupyter",
            name,
            "proxy-app",
            "in site.yml, but the server proxy in users' servers does not open it",
        )
        for name in profile.jupyter.server_proxy_allowed
        if name not in jupyter.proxy_apps
    ]
    return found


def environment_drift(profile: Profile, snapshot: Snapshot, today: dt.date | None = None) -> list[Drift]:
    """The JupyterLab environments the profile offers, against the spawn form and servers started in them."""
    hub = snapshot.hub
    if profile.hub is None or hub is None or hub.version is None or not hub.form_environments:
        return []  # a form without an environment field offers one, and jupyter_drift checks it
    offered = {e.value for e in hub.form_environments}
    declared = profile.jupyter.available(today or snapshot.taken)
    found = [
        Drift("environment", e.name, "offered", "in site.yml, but the hub's spawn form does not offer it")
        for e in declared
        if e.name not in offered
    ]
    known = {e.name for e in declared} | ({OWN_ENVIRONMENT} if profile.jupyter.own_environment else set())
    found += [
        Drift("environment", name, "unknown", "the hub's spawn form offers it, but site.yml does not list it")
        for name in sorted(offered - known)
    ]
    if profile.jupyter.own_environment is not None and OWN_ENVIRONMENT not in offered:
        message = "site.yml offers users' own start-up scripts, but the hub's spawn form does not"
        found.append(Drift("environment", OWN_ENVIRONMENT, "offered", message))
    for environment in declared:
        found += _environment_contents(environment.name, environment.jupyterlab, environment.extensions, hub)
    return found


def _environment_contents(name: str, lab: str | None, extensions: list[str], hub: HubService) -> list[Drift]:
    jupyter = hub.environments.get(name)
    if jupyter is None:
        return []  # not offered (said above) or not probed
    found = []
    if lab is not None and jupyter.packages.get("jupyterlab") not in (lab, None):
        message = (
            f"site.yml says JupyterLab {lab}, a server started in it has {jupyter.packages['jupyterlab']}"
        )
        found.append(Drift("environment", name, "jupyterlab", message))
    found += [
        Drift(
            "environment", name, f"extension {extension}", f"site.yml lists {extension}, its servers lack it"
        )
        for extension in extensions
        if not jupyter.has_extension(extension)
    ]
    return found
