"""One detected change of one component, as data: its items, its audiences, and how it reads.

The probe's diff builds a `ComponentChange` per component; the fragment keeps it in its front
matter (`DetectedChange`), the feeds show its text, and the `--since-snapshot` plan reads its
kind, name and items. Nothing reads the text back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from hpc_handbook.changelog.fragments import (
    AUDIENCES,
    MAX_TEXT_LENGTH,
    Audience,
    ChangeItem,
    ChangeType,
    Component,
    DetectedChange,
)

#: What a change is about, more finely than the changelog's components (a node is a partition's).
ChangeKind = Literal["kernel", "partition", "node", "module", "hub", "jupyter", "environment", "service"]


@dataclasses.dataclass(frozen=True)
class ComponentChange:
    """What changed in one component (a kernel, a partition, a module, ...) between two snapshots."""

    kind: ChangeKind
    #: The component's own name: `python3`, `batch`, `gcc`, `rcc-cpu01`, `slurm`.
    name: str
    #: The changelog's component of the fragment.
    component: Component
    #: One fragment per key and day: a later probe of the same day merges into it.
    key: str
    subject: str
    items: tuple[ChangeItem, ...]
    audiences: tuple[Audience, ...]

    @property
    def change_type(self) -> ChangeType:
        if self.items and all(i.old is None for i in self.items):
            return "added"
        if self.items and all(i.new is None for i in self.items):
            return "removed"
        return "changed"

    @property
    def came_or_went(self) -> bool:
        """The component itself appeared or disappeared (not one of its values)."""
        return all(not i.label for i in self.items) and self.change_type in ("added", "removed")

    def text(self) -> str:
        rendered = [item.render() for item in self.items]
        text = f"{self.subject}: {'; '.join(rendered)}."
        while len(text) > MAX_TEXT_LENGTH and len(rendered) > 1:
            # Too long for one entry; the status page has the full picture.
            rendered.pop()
            text = f"{self.subject}: {'; '.join(rendered)}; more changes on the system status page."
        return text

    def record(self) -> DetectedChange:
        return DetectedChange(name=self.name, subject=self.subject, items=list(self.items))


def dict_items(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[ChangeItem]:
    items = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before != after:
            items.append(
                ChangeItem(
                    label=key,
                    old=None if before is None else str(before),
                    new=None if after is None else str(after),
                )
            )
    return items


def all_audiences(*audiences: Audience) -> tuple[Audience, ...]:
    # Admins see every system change; the order follows the changelog module's.
    wanted = {*audiences, "admin"}
    return tuple(a for a in AUDIENCES if a in wanted)


def merge_items(earlier: Sequence[ChangeItem], later: Sequence[ChangeItem]) -> list[ChangeItem]:
    """Combine two lists of changes to the same values: from the first old value to the last new one."""
    merged: dict[str, ChangeItem] = {item.label: item for item in earlier}
    for item in later:
        first = merged.get(item.label)
        merged[item.label] = ChangeItem(label=item.label, old=first.old if first else item.old, new=item.new)
    # A value that came back to where the day started has not changed at all.
    return [item for item in merged.values() if item.old != item.new]
