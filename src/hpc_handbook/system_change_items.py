"""The values of a detected system change: its items, and how they read in a fragment and back.

A probe-written fragment's text is `subject: item; item.`, so the next probe of the same
day can read the items back (`parse_change_text`) and merge them (`merge_items`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from hpc_handbook.changelog import AUDIENCES, MAX_TEXT_LENGTH, Audience, ChangeType, Component


def memory_text(mb: int) -> str:
    """Memory as site.yml states it: whole GB where it is, else MB."""
    return f"{mb // 1024} GB" if mb % 1024 == 0 else f"{mb} MB"


#: Stands for "exists" where a component or module version has no value of its own.
PRESENT = "present"


@dataclasses.dataclass(frozen=True)
class Item:
    """One changed value of a component; None on one side means added or removed."""

    label: str  # no spaces, so a fragment's text can be read back; "" for the component itself
    old: str | None
    new: str | None

    def render(self) -> str:
        prefix = f"{self.label} " if self.label else ""
        if self.old is None:
            return f"{prefix}{'' if self.new == PRESENT else f'{self.new} '}added"
        if self.new is None:
            return f"{prefix}{'' if self.old == PRESENT else f'{self.old} '}removed"
        return f"{prefix}{self.old} → {self.new}"


_CHANGED_ITEM = re.compile(r"^(?:(?P<label>\S+) )?(?P<old>.+?) → (?P<new>.+)$")
_ADDED_ITEM = re.compile(r"^(?:(?P<label>\S+?)(?: (?P<value>.+?))? )?(?P<verb>added|removed)$")


def parse_item(text: str) -> Item | None:
    """Read back an item that `Item.render` wrote; None for anything else."""
    text = text.strip()
    match = _CHANGED_ITEM.match(text)
    if match:
        return Item(match.group("label") or "", match.group("old"), match.group("new"))
    match = _ADDED_ITEM.match(text)
    if match:
        value = match.group("value") or PRESENT
        label = match.group("label") or ""
        if match.group("verb") == "added":
            return Item(label, None, value)
        return Item(label, value, None)
    return None


@dataclasses.dataclass(frozen=True)
class ComponentChange:
    """What changed in one component (a kernel, a partition, a module, ...) between two snapshots."""

    component: Component
    key: str
    subject: str
    items: tuple[Item, ...]
    audiences: tuple[Audience, ...]

    @property
    def change_type(self) -> ChangeType:
        if self.items and all(i.old is None for i in self.items):
            return "added"
        if self.items and all(i.new is None for i in self.items):
            return "removed"
        return "changed"

    def text(self) -> str:
        rendered = [item.render() for item in self.items]
        text = f"{self.subject}: {'; '.join(rendered)}."
        while len(text) > MAX_TEXT_LENGTH and len(rendered) > 1:
            # Too long for one entry; the status page has the full picture.
            rendered.pop()
            text = f"{self.subject}: {'; '.join(rendered)}; more changes on the system status page."
        return text


def parse_change_text(text: str) -> tuple[str, list[Item]]:
    """Split a probe-written fragment's text into its subject and the items it lists."""
    subject, _, rest = text.strip().partition(": ")
    rest = rest.removesuffix(".")
    items = [parse_item(part) for part in rest.split("; ")]
    return subject, [item for item in items if item is not None]


def language_label(language: str) -> str:
    """How a reader names a kernel's language: Python, R, bash."""
    return {"python": "Python", "r": "R", "bash": "bash"}.get(language.lower(), language or "language")


def dict_items(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Item]:
    items = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before != after:
            items.append(
                Item(key, None if before is None else str(before), None if after is None else str(after))
            )
    return items


def all_audiences(*audiences: Audience) -> tuple[Audience, ...]:
    # Admins see every system change; the order follows the changelog module's.
    wanted = {*audiences, "admin"}
    return tuple(a for a in AUDIENCES if a in wanted)


def merge_items(earlier: Sequence[Item], later: Sequence[Item]) -> list[Item]:
    """Combine two lists of changes to the same values: from the first old value to the last new one."""
    merged: dict[str, Item] = {item.label: item for item in earlier}
    for item in later:
        first = merged.get(item.label)
        merged[item.label] = Item(item.label, first.old if first else item.old, item.new)
    # A value that came back to where the day started has not changed at all.
    return [item for item in merged.values() if item.old != item.new]
