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
    NodeEntry,
    PartitionEntry,
    Snapshot,
    Versions,
)
from hpc_handbook.profile import Partition, Profile, walltime_hours


def slurm_time(walltime: str) -> str:
    """A site.yml walltime as Slurm prints it: a day and more as `D-HH:MM:SS`."""
    seconds = round(walltime_hours(walltime) * 3600)
    days, rest = divmod(seconds, 86400)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{clock}" if days else clock


def matching_partition(partition: Partition) -> PartitionEntry:
    """A partition, and its nodes, exactly as site.yml describes them; all nodes up."""
    setup, limits = partition.node_setup, partition.limits
    node = NodeEntry(
        state="up",
        cpus=setup.cpus,
        memory_mb=setup.memory_gb * 1024,
        features=sorted(setup.features),
        gpus=limits.gpus_per_node,
    )
    return PartitionEntry(
        state="UP",
        default=partition.default,
        max_time=slurm_time(limits.max_walltime),
        max_nodes=limits.max_nodes,
        total_nodes=setup.count,
        total_cpus=setup.count * setup.cpus,
        memory_per_node_mb=limits.memory_per_node_gb * 1024,
        gpus_per_node=limits.gpus_per_node,
        nodes={name: node.model_copy(deep=True) for name in setup.node_names},
    )


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
    partitions = {p.name: matching_partition(p) for p in profile.partitions}
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
