"""Drift between the profile and the hub users meet: its spawn form and the kernels a server lists."""

from __future__ import annotations

from hpc_handbook.data.snapshot import Snapshot
from hpc_handbook.drift.findings import Drift
from hpc_handbook.profile import Profile


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
        for name in profile.jupyter.extensions
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
