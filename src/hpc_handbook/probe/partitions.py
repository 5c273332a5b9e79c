"""The snapshot's Slurm part: its version and the partitions `scontrol` reports."""

from __future__ import annotations

import re
import shutil
from typing import Any

from hpc_handbook.probe.tools import run_command
from hpc_handbook.slurm import parse_scontrol_oneliner


def _gpus_in_gres(gres: str) -> int:
    """Count GPUs in a node's Gres string, e.g. `gpu:a100:4(S:0-1),shard:8` -> 4."""
    total = 0
    for item in gres.split(","):
        parts = re.sub(r"\(.*?\)", "", item).split(":")
        if parts[0] == "gpu" and parts[-1].isdigit():
            total += int(parts[-1])
    return total


def _int_or_unlimited(value: str | None) -> int | str:
    if value is None or not value.isdigit():
        return "UNLIMITED"
    return int(value)


def partitions_from_scontrol(partition_text: str, node_text: str) -> dict[str, dict[str, Any]]:
    """Build the snapshot's partitions from `scontrol show partition|node --oneliner`.

    Node names are left out on purpose: they are host names, and a count says enough.
    """
    nodes = parse_scontrol_oneliner(node_text)
    partitions: dict[str, dict[str, Any]] = {}
    for fields in parse_scontrol_oneliner(partition_text):
        name = fields.get("PartitionName")
        if not name:
            continue
        members = [n for n in nodes if name in n.get("Partitions", "").split(",")]
        node_memory = [int(n["RealMemory"]) for n in members if n.get("RealMemory", "").isdigit()]
        limit = fields.get("MaxMemPerNode", "UNLIMITED")
        candidates = [*node_memory, *([int(limit)] if limit.isdigit() else [])]
        gpus = [_gpus_in_gres(n.get("Gres", "")) for n in members]
        partitions[name] = {
            "state": fields.get("State", "UNKNOWN"),
            "default": fields.get("Default") == "YES",
            "max_time": fields.get("MaxTime", "UNLIMITED"),
            "max_nodes": _int_or_unlimited(fields.get("MaxNodes")),
            "total_nodes": int(fields.get("TotalNodes", "0") or 0),
            "total_cpus": int(fields.get("TotalCPUs", "0") or 0),
            # What one job may use on one node: the partition cap or the smallest node.
            "memory_per_node_mb": min(candidates) if candidates else None,
            "gpus_per_node": min(gpus) if gpus else 0,
        }
    return partitions


def probe_slurm() -> tuple[str | None, dict[str, dict[str, Any]]]:
    if shutil.which("scontrol") is None:
        return None, {}
    version = re.search(r"(\d+\.\d+\.\d+)", run_command(["scontrol", "--version"]).stdout)
    partitions = run_command(["scontrol", "show", "partition", "--oneliner"])
    nodes = run_command(["scontrol", "show", "node", "--oneliner"])
    if partitions.returncode != 0:
        return version and version.group(1), {}
    return version and version.group(1), partitions_from_scontrol(partitions.stdout, nodes.stdout)
