"""Drift between the profile's partitions and Slurm's: their limits, their nodes and the nodes' state.

A partition's finding is of kind `partition`; a finding about one node is of kind `node`
and names the node, so its pages are those of the node and of its partition.
"""

from __future__ import annotations

from hpc_handbook.data.snapshot import PartitionEntry, Snapshot, slurm_duration_seconds
from hpc_handbook.drift.findings import Drift
from hpc_handbook.profile import Partition, Profile, walltime_hours
from hpc_handbook.site_facts.formats import memory_text
from hpc_handbook.site_facts.nodes import compress_hostlist


def _limits_drift(partition: Partition, entry: PartitionEntry) -> list[Drift]:
    """What differs between the limits Slurm enforces and those site.yml states."""
    name, limits = partition.name, partition.limits
    found = []
    seconds = slurm_duration_seconds(entry.max_time)
    if seconds is None or seconds != round(walltime_hours(limits.max_walltime) * 3600):
        message = f"MaxTime is {entry.max_time} at the site, site.yml says {limits.max_walltime}"
        found.append(Drift("partition", name, "MaxTime", message))
    if entry.max_nodes != limits.max_nodes:
        message = f"MaxNodes is {entry.max_nodes} at the site, site.yml says {limits.max_nodes}"
        found.append(Drift("partition", name, "MaxNodes", message))
    memory = entry.memory_per_node_mb
    # Nodes report a little less than their nominal size; compare in whole GB.
    if memory is not None and round(memory / 1024) != limits.memory_per_node_gb:
        message = (
            f"memory per node is {memory_text(memory)} at the site, "
            f"site.yml says {limits.memory_per_node_gb} GB"
        )
        found.append(Drift("partition", name, "memory", message))
    if entry.gpus_per_node != limits.gpus_per_node:
        message = f"{entry.gpus_per_node} GPUs per node at the site, site.yml says {limits.gpus_per_node}"
        found.append(Drift("partition", name, "GPUs", message))
    return found


def _node_count_drift(partition: Partition, entry: PartitionEntry) -> list[Drift]:
    """A partition with more, fewer or other nodes than site.yml's `nodes` names."""
    wanted = partition.node_setup
    if partition.nodes is None:
        return []  # site.yml names no nodes, so it claims none
    if not entry.nodes:
        # A snapshot from before nodes were recorded still has Slurm's count.
        if entry.total_nodes == wanted.count:
            return []
        message = f"{entry.total_nodes} nodes at the site, site.yml says {wanted.count} ({wanted.names})"
        return [Drift("partition", partition.name, "nodes", message)]
    if set(entry.nodes) == set(wanted.node_names):
        return []
    message = (
        f"{len(entry.nodes)} nodes at the site ({compress_hostlist(entry.nodes)}), "
        f"site.yml says {wanted.count} ({wanted.names})"
    )
    return [Drift("partition", partition.name, "nodes", message)]


def _node_drift(partition: Partition, entry: PartitionEntry) -> list[Drift]:
    """Each node of the partition that differs from what site.yml says its nodes offer."""
    wanted = partition.nodes
    if wanted is None:
        return []
    expected = {
        "CPUs": str(wanted.cpus),
        "memory": f"{wanted.memory_gb} GB",
        "features": ",".join(sorted(wanted.features)) or "none",
        "GPUs": str(partition.limits.gpus_per_node),
    }
    found = []
    for name, node in sorted(entry.nodes.items()):
        actual = {
            "CPUs": str(node.cpus),
            # Nodes report a little less than their nominal size; compare in whole GB.
            "memory": f"{round(node.memory_mb / 1024)} GB",
            "features": ",".join(node.features) or "none",
            "GPUs": str(node.gpus),
        }
        for check, value in actual.items():
            if value != expected[check]:
                message = (
                    f"{check} {value} at the site, site.yml says {expected[check]} "
                    f"for the nodes of {partition.name}"
                )
                found.append(Drift("node", name, check, message))
    return found


def node_state_drift(profile: Profile, snapshot: Snapshot) -> list[Drift]:
    """Every node of the profile's partitions that is drained or down, once each."""
    found: dict[str, Drift] = {}
    for partition in profile.partitions:
        entry = snapshot.partitions.get(partition.name)
        for name, node in sorted(entry.nodes.items()) if entry is not None else ():
            if node.state != "up" and name not in found:
                because = f": {node.reason}" if node.reason else ""
                message = f"{node.state} in partition {partition.name}{because}"
                found[name] = Drift("node", name, "state", message)
    return list(found.values())


def partition_drift(profile: Profile, snapshot: Snapshot) -> list[Drift]:
    """The profile's partitions against Slurm's: missing, not up, other limits, other nodes."""
    found = []
    for partition in profile.partitions:
        entry = snapshot.partitions.get(partition.name)
        if entry is None:
            message = "in site.yml, but Slurm has no such partition"
            found.append(Drift("partition", partition.name, "missing", message))
            continue
        if entry.state != "UP":
            found.append(Drift("partition", partition.name, "State", f"State is {entry.state}, not UP"))
        found += _limits_drift(partition, entry)
        if partition.default and not entry.default:
            message = "site.yml says it is the default, Slurm does not"
            found.append(Drift("partition", partition.name, "default", message))
        found += _node_count_drift(partition, entry)
        found += _node_drift(partition, entry)
    return [*found, *node_state_drift(profile, snapshot)]


def node_partitions(profile: Profile, snapshot: Snapshot) -> dict[str, str]:
    """The partition each node belongs to, as the snapshot or else site.yml says."""
    owners: dict[str, str] = {}
    for name, entry in sorted(snapshot.partitions.items()):
        for node in entry.nodes:
            owners.setdefault(node, name)
    for partition in profile.partitions:
        for node in partition.node_setup.node_names:
            owners.setdefault(node, partition.name)
    return owners
