"""Assemble the snapshot from each part the probe records.

Each part of the site has its own module with one `probe_<part>` function; a new part
adds its module and one entry here and in the snapshot's model.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hpc_handbook.data.snapshot import SNAPSHOT_FORMAT, Jupyter, RetiredNames, Snapshot
from hpc_handbook.probe.hub import probe_hub
from hpc_handbook.probe.jupyter import probe_jupyter
from hpc_handbook.probe.kernels import probe_kernels
from hpc_handbook.probe.modules import probe_modules
from hpc_handbook.probe.partitions import probe_slurm
from hpc_handbook.profile import Profile


def probe_snapshot(
    profile: Profile,
    *,
    kernel_timeout: float = 120.0,
    taken: dt.date | None = None,
    jupyter_python: str | None = None,
) -> Snapshot:
    """Probe the running site and return its snapshot; `jupyter_python` is the Python of the Jupyter
    server, for a site without a hub."""
    slurm_version, partitions = probe_slurm()
    modules = probe_modules(profile.modules.paths)
    lmod_version = modules.pop("lmod_version")
    hub, users_jupyter = (None, None) if profile.hub is None else probe_hub(profile.hub)
    # Where users reach JupyterLab through a hub, their own server says what it has; a site
    # without a hub is described by the Jupyter installation the probe runs beside.
    if profile.hub is None:
        jupyter: Jupyter = Jupyter.model_validate(probe_jupyter(jupyter_python))
    else:
        jupyter = users_jupyter or Jupyter(source="users-server", error=hub.error if hub else None)
    return Snapshot.model_validate(
        {
            "format": SNAPSHOT_FORMAT,
            "taken": taken or dt.date.today(),
            "site": profile.site.short_name,
            "kernels": probe_kernels(profile, timeout=kernel_timeout),
            "partitions": partitions,
            "modules": modules,
            "jupyter": jupyter,
            "versions": {"slurm": slurm_version, "lmod": lmod_version},
            "hub": hub,
        }
    )


def probe_site(
    profile: Profile,
    *,
    kernel_timeout: float = 120.0,
    taken: dt.date | None = None,
    jupyter: str | None = None,
) -> dict[str, Any]:
    """The snapshot as the JSON it is written as, for callers that index it like the file."""
    snapshot = probe_snapshot(profile, kernel_timeout=kernel_timeout, taken=taken, jupyter_python=jupyter)
    return snapshot.model_dump(mode="json", by_alias=True)


def _names(snapshot: Snapshot) -> dict[str, set[str]]:
    modules = {f"{name}/{v}" for name, entry in snapshot.modules.available.items() for v in entry.versions}
    return {
        "partitions": set(snapshot.partitions),
        "kernels": set(snapshot.kernels),
        "modules": modules,
        "extensions": set(snapshot.jupyter.lab_extensions)
        if snapshot.jupyter.source == "users-server"
        else set(),
    }


def carry_retired(previous: Snapshot | None, current: Snapshot) -> Snapshot:
    """The snapshot with every name the site had before and no longer has kept as retired.

    Kept across probes, so a page that still names a module version removed a year ago fails
    the prose check however many snapshots later.
    """
    if previous is None:
        return current
    before, now = _names(previous), _names(current)
    # A part the probe could not read this time has not lost its names.
    if current.modules.error is not None:
        now["modules"] = before["modules"]
    if current.jupyter.error is not None or previous.jupyter.source != current.jupyter.source:
        now["extensions"] = before["extensions"]
    retired = {}
    for kind, names in now.items():
        earlier = set(getattr(previous.retired, kind))
        retired[kind] = sorted((earlier | (before[kind] - names)) - names)
    return current.model_copy(update={"retired": RetiredNames(**retired)})
