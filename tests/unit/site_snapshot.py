"""A snapshot of a site exactly as its profile says: the baseline the drift and change tests edit."""

from __future__ import annotations

import datetime as dt

from hpc_handbook.data.snapshot import (
    FormPlace,
    HubService,
    Jupyter,
    KernelEntry,
    ModuleEntry,
    Modules,
    PartitionEntry,
    Snapshot,
    Versions,
)
from hpc_handbook.profile import Profile


def matching_snapshot(profile: Profile) -> Snapshot:
    """A snapshot of a site that is exactly what the profile says."""
    kernels = {}
    for kernel in profile.kernels:
        details: dict[str, str | int | list[str]] = {}
        if kernel.modules:
            details["modules"] = list(kernel.modules)
        if kernel.partition:
            details["partition"] = kernel.partition
        kernels[kernel.name] = KernelEntry(
            display_name=kernel.display_name,
            language=kernel.language,
            start=kernel.start,
            start_details=details,
            language_version={"python": "3.11.2", "r": "4.2.2", "bash": "5.2.15"}[kernel.language.lower()],
            packages={p: "1.0.0" for p in kernel.packages},
            fingerprint="0" * 16,
        )
    seconds = {"04:00:00": "04:00:00", "24:00:00": "1-00:00:00", "12:00:00": "12:00:00"}
    partitions = {
        p.name: PartitionEntry(
            state="UP",
            default=p.default,
            max_time=seconds[p.limits.max_walltime],
            max_nodes=p.limits.max_nodes,
            total_nodes=1,
            total_cpus=16,
            memory_per_node_mb=p.limits.memory_per_node_gb * 1024,
            gpus_per_node=p.limits.gpus_per_node,
        )
        for p in profile.partitions
    }
    available: dict[str, ModuleEntry] = {}
    for module in [*profile.modules.relied_on, *(m for k in profile.kernels for m in k.modules)]:
        name, _, version = module.partition("/")
        entry = available.setdefault(name, ModuleEntry(default=version))
        if version not in entry.versions:
            entry.versions.append(version)
    return Snapshot(
        taken=dt.date(2026, 11, 25),
        site="RCC",
        kernels=kernels,
        partitions=partitions,
        modules=Modules(available=available),
        jupyter=Jupyter(packages={"jupyterlab": "4.2.5"}),
        versions=Versions(slurm="22.05.8", lmod="8.6.19"),
        hub=HubService(
            url="http://127.0.0.1:8000",
            version="5.5.4",
            spawner="HandbookSpawner",
            form_places=[
                FormPlace(value="login", label="Login node"),
                *(FormPlace(value=p.name, label=f"Partition {p.name}") for p in profile.jupyter_partitions),
            ],
            form_fields=["Where your server runs", "Walltime (HH:MM:SS)"],
            server_kernels=sorted(k.name for k in profile.kernels),
        ),
    )
