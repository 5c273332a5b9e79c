"""What changed between two snapshots: one `ComponentChange` per kernel, partition, node, module,
part of the hub or service, with its items as data.

`hpc-handbook probe --changelog` writes them as fragments (`changes.fragments`); the
`--since-snapshot` plan reads them as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from hpc_handbook.changelog.fragments import PRESENT, Audience, ChangeItem
from hpc_handbook.changes.items import ComponentChange, all_audiences, dict_items
from hpc_handbook.data.snapshot import (
    HubService,
    Jupyter,
    KernelEntry,
    ModuleEntry,
    NodeEntry,
    PartitionEntry,
    Snapshot,
    as_snapshot,
)
from hpc_handbook.profile import Profile
from hpc_handbook.site_facts.formats import language_name, memory_text, walltime_text

#: A snapshot's entry for one kernel, partition or node.
Entry = TypeVar("Entry", KernelEntry, PartitionEntry, NodeEntry)


def _kernel_audiences(profile: Profile | None, name: str) -> tuple[Audience, ...]:
    # The site's default kernels (declared, started locally) are what novices use;
    # module-based, Slurm-backed and undeclared kernels concern experts.
    declared = {k.name: k for k in profile.kernels} if profile else {}
    if name in declared and declared[name].start == "local":
        return all_audiences("novice", "expert")
    return all_audiences("expert")


def _changed_entries(
    old: Mapping[str, Entry], new: Mapping[str, Entry], items_of: Callable[[Entry, Entry], list[ChangeItem]]
) -> Iterator[tuple[str, list[ChangeItem]]]:
    """Each name whose entry changed, with its items: that it came or went, or what `items_of` lists."""
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if before is None or after is None:
            items = [
                ChangeItem(old=None if before is None else PRESENT, new=None if after is None else PRESENT)
            ]
        else:
            items = items_of(before, after)
        if items:
            yield name, items


def _kernel_items(before: KernelEntry, after: KernelEntry) -> list[ChangeItem]:
    items = []
    if before.display_name != after.display_name:
        items.append(
            ChangeItem(label="name", old=before.display_name or None, new=after.display_name or None)
        )
    if before.start != after.start:
        items.append(ChangeItem(label="start", old=before.start, new=after.start))
    # A kernel that did not answer has no versions; that is an incident, not a change.
    if not before.error and not after.error:
        language = language_name(after.language)
        items += dict_items({language: before.language_version}, {language: after.language_version})
        items += dict_items(before.packages, after.packages)
    return items


def _kernel_changes(
    old: Mapping[str, KernelEntry], new: Mapping[str, KernelEntry], profile: Profile | None
) -> list[ComponentChange]:
    return [
        ComponentChange(
            "kernel",
            name,
            "kernel",
            f"kernel/{name}",
            f"{name} kernel",
            tuple(items),
            _kernel_audiences(profile, name),
        )
        for name, items in _changed_entries(old, new, _kernel_items)
    ]


#: The values of a partition a change lists, in this order.
_PARTITION_VALUES = ("State", "MaxTime", "MaxNodes", "memory/node", "GPUs/node", "nodes", "default")


def _partition_values(entry: PartitionEntry) -> dict[str, Any]:
    memory = entry.memory_per_node_mb
    values = {
        "State": entry.state,
        "MaxTime": walltime_text(entry.max_time),
        "MaxNodes": entry.max_nodes,
        "memory/node": None if memory is None else memory_text(memory),
        "GPUs/node": entry.gpus_per_node,
        "nodes": entry.total_nodes,
        "default": "yes" if entry.default else "no",
    }
    return {label: values[label] for label in _PARTITION_VALUES}


def _partition_items(before: PartitionEntry, after: PartitionEntry) -> list[ChangeItem]:
    items = dict_items(_partition_values(before), _partition_values(after))
    return sorted(items, key=lambda i: _PARTITION_VALUES.index(i.label))


def _partition_changes(
    old: Mapping[str, PartitionEntry], new: Mapping[str, PartitionEntry]
) -> list[ComponentChange]:
    audiences = all_audiences("novice", "expert")
    return [
        ComponentChange(
            "partition", name, "partition", f"partition/{name}", f"{name} partition", tuple(items), audiences
        )
        for name, items in _changed_entries(old, new, _partition_items)
    ]


def _node_values(entry: NodeEntry) -> dict[str, Any]:
    # The reason says why a node left service; it is news only with the change of state.
    state = f"{entry.state} ({entry.reason})" if entry.state != "up" and entry.reason else entry.state
    # A fragment's items are parted by "; ", so a reason must not contain one.
    return {
        "state": state.replace(";", ","),
        "CPUs": entry.cpus,
        "memory": memory_text(entry.memory_mb),
        "features": ",".join(entry.features) or "none",
        "GPUs": entry.gpus,
    }


def _node_items(before: NodeEntry, after: NodeEntry) -> list[ChangeItem]:
    if before.state == after.state:
        before = before.model_copy(update={"reason": after.reason})
    order = list(_node_values(after))
    return sorted(dict_items(_node_values(before), _node_values(after)), key=lambda i: order.index(i.label))


def _nodes_by_name(partitions: Mapping[str, PartitionEntry]) -> tuple[dict[str, NodeEntry], dict[str, str]]:
    """Every node of the snapshot, and the partition each is listed under first."""
    nodes: dict[str, NodeEntry] = {}
    owners: dict[str, str] = {}
    for partition, entry in sorted(partitions.items()):
        for name, node in entry.nodes.items():
            nodes.setdefault(name, node)
            owners.setdefault(name, partition)
    return nodes, owners


def _node_changes(
    old: Mapping[str, PartitionEntry], new: Mapping[str, PartitionEntry]
) -> list[ComponentChange]:
    """A node that came, went, or changed state (or what it offers): one change per node."""
    before, old_owners = _nodes_by_name(old)
    after, new_owners = _nodes_by_name(new)
    # A snapshot from before nodes were recorded lists none; that is no news of nodes.
    if not before or not after:
        return []
    audiences = all_audiences("expert")
    changes = []
    for name, items in _changed_entries(before, after, _node_items):
        partition = new_owners.get(name) or old_owners[name]
        subject = f"{name} node ({partition} partition)"
        changes.append(
            ComponentChange(
                "node", name, "partition", f"node/{_key_part(name)}", subject, tuple(items), audiences
            )
        )
    return changes


def _module_changes(old: Mapping[str, ModuleEntry], new: Mapping[str, ModuleEntry]) -> list[ComponentChange]:
    changes = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        old_versions = set(before.versions if before else [])
        new_versions = set(after.versions if after else [])
        items = [ChangeItem(label=f"{name}/{v}", new=PRESENT) for v in sorted(new_versions - old_versions)]
        items += [ChangeItem(label=f"{name}/{v}", old=PRESENT) for v in sorted(old_versions - new_versions)]
        if before is not None and after is not None and before.default != after.default:
            items.append(ChangeItem(label="default", old=before.default, new=after.default))
        if items:
            changes.append(
                ComponentChange(
                    "module",
                    name,
                    "module",
                    f"module/{_key_part(name)}",
                    f"{name} module",
                    tuple(items),
                    all_audiences("expert"),
                )
            )
    return changes


def _jupyter_versions(jupyter: Jupyter) -> dict[str, str]:
    versions: dict[str, str] = {}
    for group in (jupyter.server_extensions, jupyter.lab_extensions):
        for name, info in group.items():
            versions[name] = info.version or PRESENT
    versions.update(jupyter.packages)
    return versions


def _hub_values(hub: HubService) -> dict[str, str]:
    """What users meet at the hub, as comparable values: versions, form places, listed kernels."""
    values = {"JupyterHub": hub.version or "", "spawner": hub.spawner or ""}
    values |= {f"spawn form place {label}": PRESENT for label in (place.label for place in hub.form_places)}
    values |= {f"kernel {name} in users' servers": PRESENT for name in hub.server_kernels or ()}
    return {key: value for key, value in values.items() if value}


def _hub_changes(before: HubService | None, after: HubService | None) -> list[ComponentChange]:
    # A hub that did not answer either time has nothing to compare; its absence is drift, not news.
    if before is None or after is None or before.version is None or after.version is None:
        return []
    audiences = all_audiences("novice", "expert")
    changes = []
    items = dict_items(_hub_values(before), _hub_values(after))
    if items:
        changes.append(
            ComponentChange("hub", "hub", "hub", "hub/jupyterhub", "The hub", tuple(items), audiences)
        )
    return changes + _environment_changes(before, after)


def _environment_values(hub: HubService, name: str) -> dict[str, str]:
    label = next((e.label for e in hub.form_environments if e.value == name), "")
    jupyter = hub.environments.get(name)
    return {"offered as": label, **(_jupyter_versions(jupyter) if jupyter else {})}


def _environment_changes(before: HubService, after: HubService) -> list[ComponentChange]:
    """An environment the form offers now or no longer, or whose JupyterLab or extensions changed."""
    old = {e.value for e in before.form_environments}
    new = {e.value for e in after.form_environments}
    changes = []
    for name in sorted(old | new):
        if name in old and name in new:
            items = dict_items(_environment_values(before, name), _environment_values(after, name))
        else:
            # It came or went as a whole: one item, the environment itself, as a kernel's would be.
            was, now = (None if name not in old else PRESENT), (None if name not in new else PRESENT)
            items = [ChangeItem(label="", old=was, new=now)]
        if items:
            label = _environment_values(after if name in new else before, name)["offered as"]
            subject = f"The spawn form's environment {label} [{name}]"
            key = f"hub/environment/{_key_part(name)}"
            audiences = all_audiences("novice", "expert")
            changes.append(ComponentChange("environment", name, "hub", key, subject, tuple(items), audiences))
    return changes


def _key_part(name: str) -> str:
    return re.sub(r"[^a-z0-9_./-]+", "-", name.lower()).strip("-./") or "unnamed"


def snapshot_changes(
    old: Snapshot | Mapping[str, Any], new: Snapshot | Mapping[str, Any], *, profile: Profile | None = None
) -> list[ComponentChange]:
    """List what changed between two snapshots, one entry per component."""
    before, after = as_snapshot(old), as_snapshot(new)
    changes = [
        *_kernel_changes(before.kernels, after.kernels, profile),
        *_partition_changes(before.partitions, after.partitions),
        *_node_changes(before.partitions, after.partitions),
        *_module_changes(before.modules.available, after.modules.available),
        *_hub_changes(before.hub, after.hub),
    ]
    # Read from another place (users' servers instead of the probe's environment) is no change of the site.
    same_source = before.jupyter.source == after.jupyter.source
    jupyter = (
        dict_items(_jupyter_versions(before.jupyter), _jupyter_versions(after.jupyter)) if same_source else []
    )
    if jupyter:
        audiences = all_audiences("novice", "expert")
        changes.append(
            ComponentChange("jupyter", "server", "hub", "hub/jupyter", "Jupyter", tuple(jupyter), audiences)
        )
    for tool, title in (("slurm", "Slurm"), ("lmod", "Lmod")):
        was, now = getattr(before.versions, tool), getattr(after.versions, tool)
        if was != now:
            item = ChangeItem(label="version", old=was, new=now)
            audiences = all_audiences("expert")
            changes.append(
                ComponentChange("service", tool, "service", f"service/{tool}", title, (item,), audiences)
            )
    return changes
