"""Assemble the snapshot from each part the probe records.

Each part of the site has its own module with one `probe_<part>` function; a new part
adds its module and one entry here and in the snapshot's model.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hpc_handbook.data.snapshot import SNAPSHOT_FORMAT, Snapshot
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
    jupyter: str | None = None,
) -> Snapshot:
    """Probe the running site and return its snapshot; `jupyter` is the Python of the Jupyter server."""
    slurm_version, partitions = probe_slurm()
    modules = probe_modules(profile.modules.paths)
    lmod_version = modules.pop("lmod_version")
    return Snapshot.model_validate(
        {
            "format": SNAPSHOT_FORMAT,
            "taken": taken or dt.date.today(),
            "site": profile.site.short_name,
            "kernels": probe_kernels(profile, timeout=kernel_timeout),
            "partitions": partitions,
            "modules": modules,
            "jupyter": probe_jupyter(jupyter),
            "versions": {"slurm": slurm_version, "lmod": lmod_version},
            "hub": None if profile.hub is None else probe_hub(profile.hub),
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
    snapshot = probe_snapshot(profile, kernel_timeout=kernel_timeout, taken=taken, jupyter=jupyter)
    return snapshot.model_dump(mode="json", by_alias=True)
