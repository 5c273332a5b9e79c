"""The changelog fragments the probe writes for what changed: one per component and day.

A fragment keeps the change as data in its front matter (`change:`), beside the text made
from it; a second change of the same component on the same day merges into those data, so
the entry says what changed since the day began.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path

from hpc_handbook.changelog.fragments import (
    AUDIENCES,
    Fragment,
    FragmentMeta,
    fragment_paths,
    parse_fragment,
    write_fragment,
)
from hpc_handbook.changes.items import ComponentChange, merge_items


def fragment_slug(key: str) -> str:
    return "system-" + re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")


def _same_day(directory: Path, date: dt.date) -> dict[str, tuple[Path, Fragment]]:
    """The probe's fragments of that day, by key."""
    found = {}
    for path in fragment_paths(directory) if directory.is_dir() else []:
        fragment = parse_fragment(path)
        if fragment.meta.key and fragment.meta.date == date:
            found[fragment.meta.key] = (path, fragment)
    return found


def write_change_fragments(
    directory: Path, changes: Sequence[ComponentChange], *, date: dt.date, site: str | None = None
) -> list[Path]:
    """Write one fragment per changed component; merge into an existing fragment with the same key and date.

    Returns the paths written (a fragment whose changes cancelled out is removed, not returned).
    """
    existing = _same_day(directory, date)
    written = []
    for change in changes:
        slug = fragment_slug(change.key)
        items = list(change.items)
        audiences = list(change.audiences)
        if change.key in existing:
            path, fragment = existing[change.key]
            slug = fragment.slug
            # An earlier fragment without its data (written before they were kept) is replaced.
            earlier = fragment.meta.change.items if fragment.meta.change else []
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
            change=merged.record(),
        )
        written.append(write_fragment(directory, Fragment(slug=slug, meta=meta, text=merged.text())))
    return written
