"""Compare the site with what the handbook says about it, and with its last snapshot.

`hpc-handbook drift` checks the claims of `site.yml` (kernels, partitions and their
limits, the modules the pages rely on) against a probe, and versions against the last
committed snapshot, because `site.yml` makes no version claims. Each mismatch names
the pages that show the affected value.

The same snapshot comparison feeds `hpc-handbook probe --changelog`: every changed
component gets one changelog fragment per day, keyed like `kernel/python3`, so that a
second change on the same day updates the entry instead of adding another.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hpc_handbook.changelog import (
    AUDIENCES,
    MAX_TEXT_LENGTH,
    Audience,
    ChangeType,
    Component,
    Fragment,
    FragmentMeta,
    fragment_paths,
    parse_fragment,
    write_fragment,
)
from hpc_handbook.probe import (
    DEFAULT_SNAPSHOT,
    REGENERATE_COMMAND,
    baseline_snapshot,
    load_snapshot,
    probe_site,
    slurm_duration_seconds,
)
from hpc_handbook.profile import Profile, load_profile, walltime_hours

#: Exit code when the site and the handbook disagree (2 stays reserved for bad input).
DRIFT_EXIT_CODE = 1

# --- Which pages show a value -------------------------------------------------------------

#: Directives that render a table of each kind of component from the profile or the snapshot.
DIRECTIVES = {
    "kernel": ("site-kernels",),
    "partition": ("site-partitions", "waiting-times"),
    "module": ("site-modules",),
}
#: The status page shows versions from the committed snapshot, so version changes concern it too.
SNAPSHOT_DIRECTIVES = ("system-status",)


def partition_substitutions(profile: Profile) -> dict[str, tuple[str, ...]]:
    """Map each partition to the MyST substitutions that print it or its limits.

    This mirrors the roles `hpc_handbook.book.site_values.substitutions` assigns; it is
    repeated here because the drift check must not import Sphinx.
    """
    jupyter = [p for p in profile.partitions if p.jupyter]
    names: dict[str, list[str]] = {p.name: ["systems"] for p in profile.partitions}
    if jupyter:
        interactive = next((p for p in jupyter if p.interactive), jupyter[0])
        batch = next(
            (p for p in jupyter if p.default and not p.interactive),
            next((p for p in jupyter if not p.interactive), interactive),
        )
        names[interactive.name] += ["interactive_partition", "interactive_max_walltime"]
        names[batch.name] += ["batch_partition", "batch_max_walltime"]
    for partition in profile.partitions:
        if not partition.jupyter:
            names[partition.name].append("no_jupyter_partitions")
    return {name: tuple(values) for name, values in names.items()}


def _name_pattern(name: str) -> re.Pattern[str]:
    # Kernel and module names contain '-' and '/', so `python3` must not match `python3-batch`.
    return re.compile(r"(?<![\w/.-])" + re.escape(name) + r"(?![\w-]|[./]\w)")


def _page_texts(root: Path) -> Iterable[tuple[str, str, str | None]]:
    """Yield (page path, text, notebook kernel name) for the book's pages and examples."""
    for path in sorted((root / "book").rglob("*.md")):
        if "_build" not in path.parts:
            yield path.relative_to(root).as_posix(), path.read_text(encoding="utf-8"), None
    for path in sorted((root / "examples").glob("*.ipynb")):
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        sources = []
        for cell in notebook.get("cells", []):
            source = cell.get("source", "")
            sources.append("".join(source) if isinstance(source, list) else str(source))
        kernel = ((notebook.get("metadata") or {}).get("kernelspec") or {}).get("name")
        yield path.relative_to(root).as_posix(), "\n".join(sources), kernel


def find_pages(
    root: Path,
    *,
    names: Sequence[str] = (),
    directives: Sequence[str] = (),
    substitutions: Sequence[str] = (),
) -> list[str]:
    """Pages that mention a name, use a directive, or print a substitution; notebooks also by their kernel."""
    name_patterns = [_name_pattern(n) for n in names]
    directive_pattern = (
        re.compile(r"\{(" + "|".join(map(re.escape, directives)) + r")\}") if directives else None
    )
    substitution_pattern = (
        re.compile(r"\{\{\s*(" + "|".join(map(re.escape, substitutions)) + r")\b") if substitutions else None
    )
    pages = []
    for page, text, kernel in _page_texts(root):
        if (
            (kernel is not None and kernel in names)
            or any(p.search(text) for p in name_patterns)
            or (directive_pattern is not None and directive_pattern.search(text))
            or (substitution_pattern is not None and substitution_pattern.search(text))
        ):
            pages.append(page)
    return pages


# --- Drift --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Drift:
    """One mismatch between the handbook's claims and the site."""

    kind: str  # kernel, partition or module
    name: str
    check: str  # a stable identifier of the check, e.g. "missing" or "MaxTime"
    message: str
    pages: tuple[str, ...] = ()
    versions: bool = False  # found against the last snapshot, not against site.yml

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"pages": list(self.pages)}


def _gb(mb: int) -> str:
    return f"{mb // 1024} GB" if mb % 1024 == 0 else f"{mb} MB"


def _kernel_drift(profile: Profile, snapshot: dict[str, Any], baseline: dict[str, Any] | None) -> list[Drift]:
    found = []
    kernels = snapshot["kernels"]
    old_kernels = (baseline or {}).get("kernels", {})
    for kernel in profile.kernels:
        entry = kernels.get(kernel.name)
        if entry is None:
            found.append(
                Drift("kernel", kernel.name, "missing", "in site.yml, but no such kernelspec at the site")
            )
            continue
        if entry.get("error"):
            found.append(Drift("kernel", kernel.name, "broken", f"installed, but {entry['error']}"))
        if entry.get("language", "").lower() != kernel.language.lower():
            found.append(
                Drift(
                    "kernel",
                    kernel.name,
                    "language",
                    f"language is {entry.get('language')!r} at the site, site.yml says {kernel.language!r}",
                )
            )
        start = entry.get("start", "unknown")
        # A kernelspec without handbook metadata cannot say how it starts; only a stated mismatch counts.
        if start != "unknown" and start != kernel.start:
            found.append(
                Drift(
                    "kernel",
                    kernel.name,
                    "start",
                    f"starts {start!r} at the site, site.yml says {kernel.start!r}",
                )
            )
        if not entry.get("error"):
            for package in kernel.packages:
                if (entry.get("packages") or {}).get(package) is None:
                    found.append(
                        Drift(
                            "kernel", kernel.name, f"package {package}", f"package {package} is not installed"
                        )
                    )
        old = old_kernels.get(kernel.name)
        if old is None or old.get("error") or entry.get("error"):
            continue
        if old.get("language_version") != entry.get("language_version"):
            found.append(
                Drift(
                    "kernel",
                    kernel.name,
                    "language version",
                    f"{_language_label(entry.get('language', ''))} {old.get('language_version')} → "
                    f"{entry.get('language_version')} since the committed snapshot",
                    versions=True,
                )
            )
        old_packages, new_packages = old.get("packages") or {}, entry.get("packages") or {}
        for package in sorted(set(old_packages) & set(new_packages)):
            # A package that is gone was reported above; here only real version changes count.
            if None not in (old_packages[package], new_packages[package]) and (
                old_packages[package] != new_packages[package]
            ):
                found.append(
                    Drift(
                        "kernel",
                        kernel.name,
                        f"version {package}",
                        f"{package} {old_packages[package]} → {new_packages[package]} "
                        "since the committed snapshot",
                        versions=True,
                    )
                )
    return found


def _partition_drift(profile: Profile, snapshot: dict[str, Any]) -> list[Drift]:
    found = []
    partitions = snapshot["partitions"]
    for partition in profile.partitions:
        entry = partitions.get(partition.name)
        if entry is None:
            found.append(
                Drift("partition", partition.name, "missing", "in site.yml, but Slurm has no such partition")
            )
            continue
        if entry.get("state") != "UP":
            found.append(
                Drift("partition", partition.name, "State", f"State is {entry.get('state')}, not UP")
            )
        limits = partition.limits
        max_time = entry.get("max_time", "UNLIMITED")
        seconds = slurm_duration_seconds(max_time)
        if seconds is None or seconds != round(walltime_hours(limits.max_walltime) * 3600):
            found.append(
                Drift(
                    "partition",
                    partition.name,
                    "MaxTime",
                    f"MaxTime is {max_time} at the site, site.yml says {limits.max_walltime}",
                )
            )
        if entry.get("max_nodes") != limits.max_nodes:
            found.append(
                Drift(
                    "partition",
                    partition.name,
                    "MaxNodes",
                    f"MaxNodes is {entry.get('max_nodes')} at the site, site.yml says {limits.max_nodes}",
                )
            )
        memory = entry.get("memory_per_node_mb")
        # Nodes report a little less than their nominal size; compare in whole GB.
        if memory is not None and round(memory / 1024) != limits.memory_per_node_gb:
            found.append(
                Drift(
                    "partition",
                    partition.name,
                    "memory",
                    f"memory per node is {_gb(memory)} at the site, "
                    f"site.yml says {limits.memory_per_node_gb} GB",
                )
            )
        if entry.get("gpus_per_node", 0) != limits.gpus_per_node:
            found.append(
                Drift(
                    "partition",
                    partition.name,
                    "GPUs",
                    f"{entry.get('gpus_per_node', 0)} GPUs per node at the site, "
                    f"site.yml says {limits.gpus_per_node}",
                )
            )
        if partition.default and not entry.get("default"):
            found.append(
                Drift(
                    "partition", partition.name, "default", "site.yml says it is the default, Slurm does not"
                )
            )
    return found


def relied_on_modules(profile: Profile) -> list[str]:
    """The modules pages and kernels rely on: `modules.relied_on` and every kernel's `modules`."""
    names = list(profile.modules.relied_on)
    for kernel in profile.kernels:
        names += [m for m in kernel.modules if m not in names]
    return names


def module_available(snapshot: dict[str, Any], module: str) -> bool:
    name, _, version = module.rpartition("/") if "/" in module else (module, "", "")
    entry = snapshot["modules"].get("available", {}).get(name)
    return entry is not None and (not version or version in entry.get("versions", []))


def _module_drift(profile: Profile, snapshot: dict[str, Any]) -> list[Drift]:
    return [
        Drift("module", module, "missing", "relied on by the handbook, but Lmod does not offer it")
        for module in relied_on_modules(profile)
        if not module_available(snapshot, module)
    ]


def check_drift(
    profile: Profile,
    snapshot: dict[str, Any],
    *,
    baseline: dict[str, Any] | None = None,
    root: Path | None = None,
) -> list[Drift]:
    """Compare the profile's claims (and the baseline's versions) with a snapshot; name the pages."""
    found = [
        *_kernel_drift(profile, snapshot, baseline),
        *_partition_drift(profile, snapshot),
        *_module_drift(profile, snapshot),
    ]
    if root is None:
        return found
    substitutions = partition_substitutions(profile)
    kernel_substitutions = ("kernel_names", "kernels")
    module_substitutions = ("modules", "module_path")
    with_pages = []
    for drift in found:
        extra = SNAPSHOT_DIRECTIVES if drift.versions else ()
        if drift.kind == "kernel":
            names, subs = [drift.name], kernel_substitutions
        elif drift.kind == "partition":
            names, subs = [drift.name], substitutions.get(drift.name, ())
        else:
            names, subs = [drift.name], module_substitutions
        pages = find_pages(
            root, names=names, directives=(*DIRECTIVES[drift.kind], *extra), substitutions=subs
        )
        with_pages.append(dataclasses.replace(drift, pages=tuple(pages)))
    return with_pages


def format_drift(found: Sequence[Drift]) -> str:
    if not found:
        return "No drift: the site matches site.yml and the committed snapshot."
    lines = [
        f"Drift: {len(found)} mismatch{'es' if len(found) != 1 else ''} between the handbook and the site"
    ]
    for drift in found:
        lines.append(f"- {drift.kind} {drift.name}: {drift.message}")
        lines.append(f"    pages: {', '.join(drift.pages) if drift.pages else '(none found)'}")
    return "\n".join(lines)


# --- Snapshot changes and their changelog fragments --------------------------------------

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


def _language_label(language: str) -> str:
    return {"python": "Python", "r": "R", "bash": "bash"}.get(language.lower(), language or "language")


def _dict_items(old: dict[str, Any], new: dict[str, Any], *, label=lambda k: k) -> list[Item]:
    items = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before != after:
            items.append(
                Item(
                    label(key), None if before is None else str(before), None if after is None else str(after)
                )
            )
    return items


def _all_audiences(*audiences: Audience) -> tuple[Audience, ...]:
    # Admins see every system change; the order follows the changelog module's.
    wanted = {*audiences, "admin"}
    return tuple(a for a in AUDIENCES if a in wanted)  # type: ignore[misc]


def _kernel_audiences(profile: Profile | None, name: str) -> tuple[Audience, ...]:
    # The site's default kernels (declared, started locally) are what novices use;
    # module-based, Slurm-backed and undeclared kernels concern experts.
    declared = {k.name: k for k in profile.kernels} if profile else {}
    if name in declared and declared[name].start == "local":
        return _all_audiences("novice", "expert")
    return _all_audiences("expert")


def _kernel_changes(
    old: dict[str, Any], new: dict[str, Any], profile: Profile | None
) -> list[ComponentChange]:
    changes = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if before is None or after is None:
            items = [Item("", None if before is None else PRESENT, None if after is None else PRESENT)]
        else:
            items = []
            if before.get("display_name") != after.get("display_name"):
                items.append(
                    Item("name", before.get("display_name") or None, after.get("display_name") or None)
                )
            if before.get("start") != after.get("start"):
                items.append(Item("start", before.get("start"), after.get("start")))
            # A kernel that did not answer has no versions; that is an incident, not a change.
            if not before.get("error") and not after.get("error"):
                language = _language_label(after.get("language", ""))
                items += _dict_items(
                    {language: before.get("language_version")},
                    {language: after.get("language_version")},
                )
                items += _dict_items(before.get("packages") or {}, after.get("packages") or {})
        if items:
            changes.append(
                ComponentChange(
                    "kernel",
                    f"kernel/{name}",
                    f"{name} kernel",
                    tuple(items),
                    _kernel_audiences(profile, name),
                )
            )
    return changes


def _hours_minutes_seconds(value: Any) -> Any:
    # Slurm prints a day as 1-00:00:00; site.yml and most readers say 24:00:00.
    try:
        seconds = slurm_duration_seconds(str(value))
    except ValueError:
        return value
    if seconds is None:
        return value
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _partition_values(entry: dict[str, Any]) -> dict[str, Any]:
    memory = entry.get("memory_per_node_mb")
    return {
        "State": entry.get("state"),
        "MaxTime": None if entry.get("max_time") is None else _hours_minutes_seconds(entry["max_time"]),
        "MaxNodes": entry.get("max_nodes"),
        "memory/node": None if memory is None else _gb(memory),
        "GPUs/node": entry.get("gpus_per_node"),
        "nodes": entry.get("total_nodes"),
        "default": "yes" if entry.get("default") else "no",
    }


def _partition_changes(old: dict[str, Any], new: dict[str, Any]) -> list[ComponentChange]:
    changes = []
    order = list(_partition_values({}))
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if before is None or after is None:
            items = [Item("", None if before is None else PRESENT, None if after is None else PRESENT)]
        else:
            items = _dict_items(_partition_values(before), _partition_values(after))
            items.sort(key=lambda i: order.index(i.label))
        if items:
            audiences = _all_audiences("novice", "expert")
            changes.append(
                ComponentChange(
                    "partition", f"partition/{name}", f"{name} partition", tuple(items), audiences
                )
            )
    return changes


def _module_changes(old: dict[str, Any], new: dict[str, Any]) -> list[ComponentChange]:
    changes = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name) or {}, new.get(name) or {}
        if before == after:
            continue
        old_versions, new_versions = set(before.get("versions", [])), set(after.get("versions", []))
        items = [Item(f"{name}/{v}", None, PRESENT) for v in sorted(new_versions - old_versions)]
        items += [Item(f"{name}/{v}", PRESENT, None) for v in sorted(old_versions - new_versions)]
        if before and after and before.get("default") != after.get("default"):
            items.append(Item("default", before.get("default"), after.get("default")))
        if items:
            changes.append(
                ComponentChange(
                    "module",
                    f"module/{_key_part(name)}",
                    f"{name} module",
                    tuple(items),
                    _all_audiences("expert"),
                )
            )
    return changes


def _jupyter_versions(jupyter: dict[str, Any]) -> dict[str, Any]:
    versions: dict[str, Any] = {}
    for group in ("server_extensions", "lab_extensions"):
        for name, info in (jupyter.get(group) or {}).items():
            versions[name] = info.get("version") or PRESENT
    versions.update(jupyter.get("packages") or {})
    return versions


def _key_part(name: str) -> str:
    return re.sub(r"[^a-z0-9_./-]+", "-", name.lower()).strip("-./") or "unnamed"


def snapshot_changes(
    old: dict[str, Any], new: dict[str, Any], *, profile: Profile | None = None
) -> list[ComponentChange]:
    """List what changed between two snapshots, one entry per component."""
    changes = [
        *_kernel_changes(old.get("kernels", {}), new.get("kernels", {}), profile),
        *_partition_changes(old.get("partitions", {}), new.get("partitions", {})),
        *_module_changes(
            old.get("modules", {}).get("available", {}), new.get("modules", {}).get("available", {})
        ),
    ]
    jupyter = _dict_items(
        _jupyter_versions(old.get("jupyter", {})), _jupyter_versions(new.get("jupyter", {}))
    )
    if jupyter:
        changes.append(
            ComponentChange(
                "hub", "hub/jupyter", "Jupyter", tuple(jupyter), _all_audiences("novice", "expert")
            )
        )
    for tool, title in (("slurm", "Slurm"), ("lmod", "Lmod")):
        before, after = (old.get("versions") or {}).get(tool), (new.get("versions") or {}).get(tool)
        if before != after:
            item = Item("version", before, after)
            changes.append(
                ComponentChange("service", f"service/{tool}", title, (item,), _all_audiences("expert"))
            )
    return changes


def merge_items(earlier: Sequence[Item], later: Sequence[Item]) -> list[Item]:
    """Combine two lists of changes to the same values: from the first old value to the last new one."""
    merged: dict[str, Item] = {item.label: item for item in earlier}
    for item in later:
        first = merged.get(item.label)
        merged[item.label] = Item(item.label, first.old if first else item.old, item.new)
    # A value that came back to where the day started has not changed at all.
    return [item for item in merged.values() if item.old != item.new]


def fragment_slug(key: str) -> str:
    return "system-" + re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")


def write_change_fragments(
    directory: Path, changes: Sequence[ComponentChange], *, date: dt.date
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
        )
        written.append(write_fragment(directory, Fragment(slug=slug, meta=meta, text=merged.text())))
    return written


# --- The command --------------------------------------------------------------------------


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("drift", help="check the site against site.yml and the committed snapshot")
    parser.add_argument("--site", help="site profile (default: site.yml)")
    parser.add_argument("--snapshot", help="check this snapshot instead of probing the site now")
    parser.add_argument(
        "--baseline",
        help=f"snapshot to compare versions with (default: the committed {DEFAULT_SNAPSHOT})",
    )
    parser.add_argument("--root", default=".", help="repository root, searched for affected pages")
    parser.add_argument("--json", action="store_true", help="print the mismatches as JSON")
    parser.add_argument("--kernel-timeout", type=float, default=120.0, help="seconds to wait for each kernel")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    profile = load_profile(args.site)
    root = Path(args.root)
    if args.baseline:
        baseline = load_snapshot(Path(args.baseline))
    else:
        baseline = baseline_snapshot(root / DEFAULT_SNAPSHOT)
    snapshot = (
        load_snapshot(Path(args.snapshot))
        if args.snapshot
        else probe_site(profile, kernel_timeout=args.kernel_timeout)
    )
    found = check_drift(profile, snapshot, baseline=baseline, root=root)
    if args.json:
        print(json.dumps([d.to_json() for d in found], indent=2, sort_keys=True))
    else:
        print(format_drift(found))
        if any(d.versions for d in found):
            print(
                f"\nVersions changed: re-run `{REGENERATE_COMMAND}` and commit the snapshot.", file=sys.stderr
            )
    return DRIFT_EXIT_CODE if found else 0
