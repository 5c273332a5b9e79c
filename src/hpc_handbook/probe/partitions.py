"""The snapshot's Slurm part: its version, the partitions and the nodes `scontrol` reports."""

from __future__ import annotations

import re
import shutil
from typing import Any

from hpc_handbook.data.snapshot import NodeState
from hpc_handbook.probe.tools import run_command
from hpc_handbook.slurm import parse_scontrol_oneliner

#: State words (base states and flags) of a node that takes no jobs at all.
_DOWN_WORDS = {"DOWN", "FAIL", "FAILING", "NOT_RESPONDING", "NO_RESPOND", "UNKNOWN", "FUTURE"}
#: State words of a node that finishes its jobs but takes no new ones.
_DRAINED_WORDS = {"DRAIN", "DRAINED", "DRAINING"}
#: What sinfo-style suffixes follow a state: `*` not responding, `~` powered off, and the like.
_STATE_SUFFIXES = "*~#!%$@^-"


def node_state(slurm_state: str) -> NodeState:
    """Read a Slurm node state (`IDLE`, `MIXED+DRAIN`, `DOWN*`, `IDLE+NOT_RESPONDING`): up, drained, down."""
    words = {word.rstrip(_STATE_SUFFIXES) for word in slurm_state.upper().split("+") if word}
    # A node that does not respond takes no jobs, whatever else its state says.
    if "*" in slurm_state or not words or words & _DOWN_WORDS:
        return "down"
    if words & _DRAINED_WORDS:
        return "drained"
    return "up"


def node_reason(line: str) -> str:
    """The admin's reason on one `scontrol show node --oneliner` line, less who set it and when.

    The reason is free text with spaces, so it is read from the line, up to the next field;
    Slurm appends `[user@time]`, which would put an account name and a date in the snapshot.
    """
    match = re.search(r"(?:^|\s)Reason=(.*?)(?=\s+[A-Z][A-Za-z]*=|\s*$)", line)
    if match is None:
        return ""
    reason = re.sub(r"\s*\[[^\]]*\]\s*$", "", match.group(1)).strip()
    return "" if reason in {"(null)", "none", "None"} else reason


def _gpus_in_gres(gres: str) -> int:
    """Count GPUs in a node's Gres string, e.g. `gpu:a100:4(S:0-1),shard:8` -> 4."""
    total = 0
    for item in gres.split(","):
        parts = re.sub(r"\(.*?\)", "", item).split(":")
        if parts[0] == "gpu" and parts[-1].isdigit():
            total += int(parts[-1])
    return total


def _number(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


def node_entry(fields: dict[str, str], line: str) -> dict[str, Any]:
    """One node's snapshot entry: its state and what it offers, never where it runs.

    Only these fields are read; NodeHostName, NodeAddr, OS, BootTime and the rest describe
    the host and change with it, so they never reach the committed snapshot.
    """
    features = fields.get("AvailableFeatures", fields.get("Features", ""))
    return {
        "state": node_state(fields.get("State", "")),
        "reason": node_reason(line),
        "cpus": _number(fields.get("CPUTot")),
        "memory_mb": _number(fields.get("RealMemory")),
        "features": sorted(f for f in features.split(",") if f and f != "(null)"),
        "gpus": _gpus_in_gres(fields.get("Gres", "")),
    }


def nodes_from_scontrol(node_text: str) -> dict[str, tuple[list[str], dict[str, Any]]]:
    """Each node of `scontrol show node --oneliner`: its partitions and its snapshot entry."""
    lines = [line for line in node_text.splitlines() if "=" in line]
    nodes = {}
    for line, fields in zip(lines, parse_scontrol_oneliner(node_text), strict=True):
        name = fields.get("NodeName")
        if name:
            partitions = [p for p in fields.get("Partitions", "").split(",") if p]
            nodes[name] = (partitions, node_entry(fields, line))
    return nodes


def _int_or_unlimited(value: str | None) -> int | str:
    if value is None or not value.isdigit():
        return "UNLIMITED"
    return int(value)


def partitions_from_scontrol(partition_text: str, node_text: str) -> dict[str, dict[str, Any]]:
    """Build the snapshot's partitions, with their nodes, from `scontrol show partition|node --oneliner`."""
    nodes = nodes_from_scontrol(node_text)
    partitions: dict[str, dict[str, Any]] = {}
    for fields in parse_scontrol_oneliner(partition_text):
        name = fields.get("PartitionName")
        if not name:
            continue
        members = {node: entry for node, (owners, entry) in sorted(nodes.items()) if name in owners}
        limit = fields.get("MaxMemPerNode", "UNLIMITED")
        node_memory = [entry["memory_mb"] for entry in members.values() if entry["memory_mb"]]
        candidates = [*node_memory, *([int(limit)] if limit.isdigit() else [])]
        gpus = [entry["gpus"] for entry in members.values()]
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
            "nodes": members,
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
