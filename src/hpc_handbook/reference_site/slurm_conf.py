"""slurm.conf and gres.conf of the reference site, from the profile: one slurmd per node."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hpc_handbook.errors import HandbookInputError
from hpc_handbook.profile import Partition, Profile
from hpc_handbook.reference_site.paths import (
    GENERATED_NOTE,
    SITE_LOG_DIR,
    SITE_RUN_DIR,
    SITE_STATE_DIR,
    SLURMCTLD_STATE_DIR,
    SLURMD_SPOOL_DIR,
    site_layout,
    site_slug,
)

#: Where the stand-in GPU device files live, one folder per GPU node.
GPU_DEVICE_DIR = SITE_STATE_DIR / "gpu-devices"

DEF_MEM_PER_CPU_MB = 1024
#: Above Linux's default ephemeral ports (32768-60999), below the top of the port space.
SRUN_PORT_RANGE = "61000-62999"
#: Each node's slurmd listens on its own port, counting up from here (Slurm's default is 6818).
FIRST_SLURMD_PORT = 6818
#: Every node is a slurmd daemon on this one machine; beyond this many, start-up and memory suffer.
MAX_SITE_NODES = 16
#: slurmdbd's port: Slurm's default (6819) is the second node's slurmd here, so the first after them.
SLURMDBD_PORT = FIRST_SLURMD_PORT + MAX_SITE_NODES
#: CPUs a node may declare: many one-CPU kernel jobs share a small machine (config_overrides), but a
#: declaration far beyond the hardware only hides mistakes in the profile.
MAX_CPUS_PER_CORE = 16


@dataclass(frozen=True)
class SiteNode:
    """One Slurm node of the reference site: a slurmd of its own, on loopback, on its own port."""

    name: str
    partition: str
    cpus: int
    memory_mb: int
    features: tuple[str, ...]
    gpus: int
    port: int

    def conf_line(self) -> str:
        extras = []
        if self.features:
            extras.append(f"Feature={','.join(self.features)}")
        if self.gpus:
            extras.append(f"Gres=gpu:{self.gpus}")
        return " ".join(
            [
                f"NodeName={self.name} NodeAddr=127.0.0.1 Port={self.port} CPUs={self.cpus} Sockets=1",
                f"CoresPerSocket={self.cpus} ThreadsPerCore=1 RealMemory={self.memory_mb}",
                *extras,
                "State=UNKNOWN",
            ]
        )


def site_nodes(profile: Profile) -> list[SiteNode]:
    """Every node of every partition, in profile order, each with its own slurmd port."""
    nodes: list[SiteNode] = []
    for partition in profile.partitions:
        setup = partition.node_setup
        for name in setup.node_names:
            nodes.append(
                SiteNode(
                    name=name,
                    partition=partition.name,
                    cpus=setup.cpus,
                    memory_mb=setup.memory_gb * 1024,
                    features=tuple(setup.features),
                    gpus=partition.limits.gpus_per_node,
                    port=FIRST_SLURMD_PORT + len(nodes),
                )
            )
    return nodes


def check_nodes_fit_host(profile: Profile, file: Path) -> None:
    """Refuse nodes this machine cannot stand in for, naming the profile's key (exit 2)."""
    nodes = site_nodes(profile)
    if len(nodes) > MAX_SITE_NODES:
        raise HandbookInputError(
            file,
            "systems[].partitions[].nodes",
            f"{len(nodes)} nodes in all; the reference site runs one slurmd per node on one machine "
            f"and expected at most {MAX_SITE_NODES}",
        )
    most = MAX_CPUS_PER_CORE * (os.cpu_count() or 1)
    for s, system in enumerate(profile.systems):
        for p, partition in enumerate(system.partitions):
            if partition.node_setup.cpus > most:
                raise HandbookInputError(
                    file,
                    f"systems[{s}].partitions[{p}].nodes.cpus",
                    f"{partition.node_setup.cpus} CPUs per node; this machine has {os.cpu_count()} cores "
                    f"and its nodes may declare at most {most}",
                )


def slurm_conf(profile: Profile, *, controller: str) -> str:
    """slurm.conf: the profile's partitions, each on nodes of its own, all on this machine."""
    nodes = site_nodes(profile)
    lines = [
        f"# slurm.conf of the {profile.site.name} reference site.",
        f"# {GENERATED_NOTE}",
        f"ClusterName={site_slug(profile)}",
        f"SlurmctldHost={controller}(127.0.0.1)",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        "MpiDefault=none",
        "SwitchType=switch/none",
        f"StateSaveLocation={SLURMCTLD_STATE_DIR}",
        "# One slurmd per node on this machine: %n is the node's name.",
        f"SlurmdSpoolDir={SLURMD_SPOOL_DIR}/%n",
        f"SlurmctldPidFile={SITE_RUN_DIR / 'slurmctld.pid'}",
        f"SlurmdPidFile={SITE_RUN_DIR / 'slurmd-%n.pid'}",
        f"SlurmctldLogFile={SITE_LOG_DIR / 'slurmctld.log'}",
        f"SlurmdLogFile={SITE_LOG_DIR / 'slurmd-%n.log'}",
        "# No cgroups: the site runs in containers and VMs where they are not delegated.",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "# Accounting as real sites run it: slurmdbd keeps the job records (sacct) and the projects",
        "# (sacctmgr), and slurmctld holds each job to its project and the project's limits.",
        "AccountingStorageType=accounting_storage/slurmdbd",
        "AccountingStorageHost=localhost",
        f"AccountingStoragePort={SLURMDBD_PORT}",
        "AccountingStorageEnforce=associations,limits",
        *(["AccountingStorageTRES=gres/gpu"] if any(n.gpus for n in nodes) else []),
        "SchedulerType=sched/backfill",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        f"DefMemPerCPU={DEF_MEM_PER_CPU_MB}",
        *_gres_lines(nodes),
        "# Reject a job that asks for more than its partition allows, instead of queueing it forever.",
        "EnforcePartLimits=ALL",
        "# Trust this file's CPUs and memory over the hardware: the nodes share one small machine.",
        "SlurmdParameters=config_overrides",
        "ReturnToService=2",
        "# Finished jobs leave squeue quickly; their record stays in the job-completion log.",
        "MinJobAge=2",
        "KillWait=5",
        "InactiveLimit=0",
        "# srun listens on ports outside the kernel's ephemeral range (ip_local_port_range): a port that",
        "# the hub or a Jupyter kernel picks at random is never one srun waits on for its job's output.",
        f"SrunPortRange={SRUN_PORT_RANGE}",
        *_epilog_lines(profile),
        "",
        *(node.conf_line() for node in nodes),
        "",
    ]
    for partition in profile.partitions:
        lines += _partition_lines(partition)
    return "\n".join(lines) + "\n"


def _gres_lines(nodes: list[SiteNode]) -> list[str]:
    if not any(n.gpus for n in nodes):
        return []
    return [
        "# GPUs are a generic resource that Slurm counts and hands out; gres.conf names no devices.",
        "GresTypes=gpu",
    ]


def _epilog_lines(profile: Profile) -> list[str]:
    if not profile.containers:
        return []
    return [
        "# Ending a job does not reach the containers its kernels started: the epilog removes them.",
        f"Epilog={site_layout(profile).slurm_epilog}",
    ]


def gpu_device_files(node: SiteNode) -> list[Path]:
    """The files that stand in for a node's GPUs: Slurm drops a GPU with no device file."""
    return [GPU_DEVICE_DIR / node.name / f"gpu{index}" for index in range(node.gpus)]


def gres_conf(profile: Profile) -> str:
    """gres.conf: each GPU node's GPUs, as stand-in device files that behave like /dev/null."""
    lines = [
        f"# gres.conf of the {profile.site.name} reference site.",
        f"# {GENERATED_NOTE}",
        "# Slurm counts, hands out and sets CUDA_VISIBLE_DEVICES for these GPUs; none is real.",
    ]
    for node in site_nodes(profile):
        if node.gpus:
            lines.append(
                f"NodeName={node.name} Name=gpu File={GPU_DEVICE_DIR / node.name}/gpu[0-{node.gpus - 1}]"
            )
    return "\n".join(lines) + "\n"


def _partition_lines(partition: Partition) -> list[str]:
    """One partition's line of slurm.conf, after comments saying what of the profile it leaves out."""
    limits = partition.limits
    notes = [partition.purpose]
    if not partition.jupyter:
        notes.append("Not reachable from Jupyter (jupyter: false in the profile).")
    if limits.gpus_per_node:
        notes.append(f"{limits.gpus_per_node} GPUs per node are scheduled, not real: the site has no GPUs.")
    return [
        *(f"# {note}" for note in notes),
        f"PartitionName={partition.name} Nodes={partition.node_setup.names} "
        f"Default={'YES' if partition.default else 'NO'} "
        f"MaxTime={limits.max_walltime} MaxNodes={limits.max_nodes} "
        f"MaxMemPerNode={limits.memory_per_node_gb * 1024} State=UP",
    ]


def parse_slurm_partitions(conf_text: str) -> dict[str, dict[str, str]]:
    """The PartitionName lines of a slurm.conf, as {name: {key: value}}."""
    partitions = {}
    for line in conf_text.splitlines():
        if not line.startswith("PartitionName="):
            continue
        settings = dict(item.split("=", 1) for item in line.split())
        partitions[settings.pop("PartitionName")] = settings
    return partitions
