"""What changed between two snapshots, and the changelog fragments the probe writes for it.

`hpc-handbook probe --changelog` compares the new snapshot with the committed one: every
changed component gets one fragment per day, keyed like `kernel/python3`, so that a
second change on the same day updates the entry instead of adding another.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from hpc_handbook.changelog import (
    AUDIENCES,
    Audience,
    Fragment,
    FragmentMeta,
    fragment_paths,
    parse_fragment,
    write_fragment,
)
from hpc_handbook.data.snapshot import (
    HubService,
    Jupyter,
    KernelEntry,
    ModuleEntry,
    NodeEntry,
    PartitionEntry,
    Snapshot,
    as_snapshot,
    slurm_duration_seconds,
)
from hpc_handbook.profile import Profile

# Kept importable from here for the callers that knew them as this module's.
from hpc_handbook.system_change_items import PRESENT as PRESENT
from hpc_handbook.system_change_items import ComponentChange as ComponentChange
from hpc_handbook.system_change_items import Item as Item
from hpc_handbook.system_change_items import all_audiences, dict_items
from hpc_handbook.system_change_items import language_label as language_label
from hpc_handbook.system_change_items import memory_text as memory_text
from hpc_handbook.system_change_items import merge_items as merge_items
from hpc_handbook.system_change_items import parse_change_text as parse_change_text
from hpc_handbook.system_change_items import parse_item as parse_item

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
    old: Mapping[str, Entry], new: Mapping[str, Entry], items_of: Callable[[Entry, Entry], list[Item]]
) -> Iterator[tuple[str, list[Item]]]:
    """Each name whose entry changed, with its items: that it came or went, or what `items_of` lists."""
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if before is None or after is None:
            items = [Item("", None if before is None else PRESENT, None if after is None else PRESENT)]
        else:
            items = items_of(before, after)
        if items:
            yield name, items


def _kernel_items(before: KernelEntry, after: KernelEntry) -> list[Item]:
    items = []
    if before.display_name != after.display_name:
        items.append(Item("name", before.display_name or None, after.display_name or None))
    if before.start != after.start:
        items.append(Item("start", before.start, after.start))
    # A kernel that did not answer has no versions; that is an incident, not a change.
    if not before.error and not after.error:
        language = language_label(after.language)
        items += dict_items({language: before.language_version}, {language: after.language_version})
        items += dict_items(before.packages, after.packages)
    return items


def _kernel_changes(
    old: Mapping[str, KernelEntry], new: Mapping[str, KernelEntry], profile: Profile | None
) -> list[ComponentChange]:
    return [
        ComponentChange(
            "kernel", f"kernel/{name}", f"{name} kernel", tuple(items), _kernel_audiences(profile, name)
        )
        for name, items in _changed_entries(old, new, _kernel_items)
    ]


def _hours_minutes_seconds(value: str) -> str:
    # Slurm prints a day as 1-00:00:00; site.yml and most readers say 24:00:00.
    try:
        seconds = slurm_duration_seconds(value)
    except ValueError:
        return value
    if seconds is None:
        return value
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


#: The values of a partition a change lists, in this order.
_PARTITION_VALUES = ("State", "MaxTime", "MaxNodes", "memory/node", "GPUs/node", "nodes", "default")


def _partition_values(entry: PartitionEntry) -> dict[str, Any]:
    memory = entry.memory_per_node_mb
    values = {
        "State": entry.state,
        "MaxTime": _hours_minutes_seconds(entry.max_time),
        "MaxNodes": entry.max_nodes,
        "memory/node": None if memory is None else memory_text(memory),
        "GPUs/node": entry.gpus_per_node,
        "nodes": entry.total_nodes,
        "default": "yes" if entry.default else "no",
    }
    return {label: values[label] for label in _PARTITION_VALUES}


def _partition_items(before: PartitionEntry, after: PartitionEntry) -> list[Item]:
    items = dict_items(_partition_values(before), _partition_values(after))
    return sorted(items, key=lambda i: _PARTITION_VALUES.index(i.label))


def _partition_changes(
    old: Mapping[str, PartitionEntry], new: Mapping[str, PartitionEntry]
) -> list[ComponentChange]:
    audiences = all_audiences("novice", "expert")
    return [
        ComponentChange("partition", f"partition/{name}", f"{name} partition", tuple(items), audiences)
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


def _node_items(before: NodeEntry, after: NodeEntry) -> list[Item]:
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
            ComponentChange("partition", f"node/{_key_part(name)}", subject, tuple(items), audiences)
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
        items = [Item(f"{name}/{v}", None, PRESENT) for v in sorted(new_versions - old_versions)]
        items += [Item(f"{name}/{v}", PRESENT, None) for v in sorted(old_versions - new_versions)]
        if before is not None and after is not None and before.default != after.default:
            items.append(Item("default", before.default, after.default))
        if items:
            changes.append(
                ComponentChange(
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
    items = dict_items(_hub_values(before), _hub_values(after))
    if not items:
        return []
    return [
        ComponentChange("hub", "hub/jupyterhub", "The hub", tuple(items), all_audiences("novice", "expert"))
    ]


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
        changes.append(
            ComponentChange(
                "hub", "hub/jupyter", "Jupyter", tuple(jupyter), all_audiences("novice", "expert")
            )
        )
    for tool, title in (("slurm", "Slurm"), ("lmod", "Lmod")):
        was, now = getattr(before.versions, tool), getattr(after.versions, tool)
        if was != now:
            item = Item("version", was, now)
            changes.append(
                ComponentChange("service", f"service/{tool}", title, (item,), all_audiences("expert"))
            )
    return changes


def fragment_slug(key: str) -> str:
    return "system-" + re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")


def write_change_fragments(
    directory: Path, changes: Sequence[ComponentChange], *, date: dt.date, site: str | None = None
) -> list[Path]:
    """Write one fragment per changed component; merge into an existing fragment with the same key and date.

    Returns the paths written (a fragment whose changes cancelled out is removed, not returned).
    """
    existing: dict[str, tuple[Path, Fragment]] = {}
    for path in fragment_paths(directory) if directory.is_dir() else []:
        fragment = parse_fragment(path)
        if fragment.meta.key and fragment.meta.date == date:
            existing[fragment.meta.key] = (path, fragment)
    written = []
    for change in changes:
        slug = fragment_slug(change.key)
        items = list(change.items)
        audiences = list(change.audiences)
        if change.key in existing:
            path, fragment = existing[change.key]
            slug = fragment.slug
            _, earlier = parse_change_text(fragment.text)
            items = merge_items(earlier, items)
            audiences = [a for a in AUDIENCES if a in {*fragment.meta.audiences, *audiences}]
            if not items:
                path.unlink()
                continue
        merged = dataclasses.replace(change, items=tuple(items), audiences=tuple(audiences))
        meta = FragmentMeta(
            date=date,
            type=merged.change_type,
            audiences=list(merged.audiences),
            component=merged.component,
            key=merged.key,
            site=site,
        )
        written.append(write_fragment(directory, Fragment(slug=slug, meta=meta, text=merged.text())))
    return written
