"""Compare the site with what the handbook says about it, and with its last snapshot.

`hpc-handbook drift` checks the claims of `site.yml` (kernels, partitions, their limits
and nodes, the modules the pages rely on) against a probe, and that no node is drained
or down; and versions against the last committed snapshot, because `site.yml` makes no
version claims. Each mismatch names the pages that show the affected value.

What changed between two snapshots, and the changelog fragments for it, is
`hpc_handbook.system_changes`; the probe uses that without this module.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hpc_handbook.data.files import require
from hpc_handbook.data.snapshot import (
    DEFAULT_SNAPSHOT,
    REGENERATE_COMMAND,
    KernelEntry,
    Snapshot,
    as_snapshot,
    load_snapshot,
    named_or_baseline,
)
from hpc_handbook.drift_findings import Drift as Drift
from hpc_handbook.hub_drift import hub_drift, jupyter_drift
from hpc_handbook.partition_drift import node_partitions, partition_drift
from hpc_handbook.probe import probe_snapshot
from hpc_handbook.profile import Kernel, Profile, load_profile
from hpc_handbook.site_facts import build_vocabulary, look_up
from hpc_handbook.site_facts.markup import fact_uses
from hpc_handbook.site_facts.vocabulary import Vocabulary

# Kept importable from here for the callers that knew them as the drift check's.
from hpc_handbook.system_changes import ComponentChange as ComponentChange
from hpc_handbook.system_changes import Item as Item
from hpc_handbook.system_changes import language_label
from hpc_handbook.system_changes import merge_items as merge_items
from hpc_handbook.system_changes import parse_item as parse_item
from hpc_handbook.system_changes import snapshot_changes as snapshot_changes
from hpc_handbook.system_changes import write_change_fragments as write_change_fragments

#: Exit code when the site and the handbook disagree (2 stays reserved for bad input).
DRIFT_EXIT_CODE = 1

# --- Which pages show a value -------------------------------------------------------------

#: Directives that render a table of each kind of component from the profile or the snapshot.
DIRECTIVES = {
    "kernel": ("site-kernels",),
    "partition": ("site-partitions", "site-spawn-form", "waiting-times"),
    "module": ("site-modules",),
    "hub": ("site-spawn-form",),
    # The users' extensions and proxy applications: the status page and the limitations list them.
    "jupyter": ("system-status", "site-limitations"),
    # The status page lists each node's state from the committed snapshot.
    "node": ("site-partitions", "system-status"),
}
#: The status page shows versions from the committed snapshot, so version changes concern it too.
SNAPSHOT_DIRECTIVES = ("system-status",)


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
    components: Sequence[str] = (),
    vocabulary: Vocabulary | None = None,
) -> list[str]:
    """Pages that mention a name, use a directive, or state a fact about a component
    (`partition:batch`, as `hpc_handbook.site_facts` names them); notebooks also by their kernel."""
    name_patterns = [_name_pattern(n) for n in names]
    directive_pattern = (
        re.compile(r"\{(" + "|".join(map(re.escape, directives)) + r")\}") if directives else None
    )
    wanted = set(components)
    pages = []
    for page, text, kernel in _page_texts(root):
        if (
            (kernel is not None and kernel in names)
            or any(p.search(text) for p in name_patterns)
            or (directive_pattern is not None and directive_pattern.search(text))
            or (wanted and vocabulary is not None and wanted & _fact_components(text, vocabulary))
        ):
            pages.append(page)
    return pages


def _fact_components(text: str, vocabulary: Vocabulary) -> set[str]:
    """The components whose facts a page states."""
    found: set[str] = set()
    for use in fact_uses(text):
        try:
            found.update(look_up(vocabulary, use.key).components)
        except LookupError:
            continue  # the prose check reports a fact the site lacks
    return found


# --- Drift --------------------------------------------------------------------------------


def _kernel_against_profile(kernel: Kernel, entry: KernelEntry) -> list[Drift]:
    """What differs between a kernel at the site and the kernel site.yml declares."""
    found = []
    if entry.error:
        found.append(Drift("kernel", kernel.name, "broken", f"installed, but {entry.error}"))
    if entry.language.lower() != kernel.language.lower():
        found.append(
            Drift(
                "kernel",
                kernel.name,
                "language",
                f"language is {entry.language!r} at the site, site.yml says {kernel.language!r}",
            )
        )
    # A kernelspec without handbook metadata cannot say how it starts; only a stated mismatch counts.
    if entry.start != "unknown" and entry.start != kernel.start:
        found.append(
            Drift(
                "kernel",
                kernel.name,
                "start",
                f"starts {entry.start!r} at the site, site.yml says {kernel.start!r}",
            )
        )
    if not entry.error:
        for package in kernel.packages:
            if entry.packages.get(package) is None:
                found.append(
                    Drift("kernel", kernel.name, f"package {package}", f"package {package} is not installed")
                )
    return found


def _kernel_versions_since(name: str, old: KernelEntry, entry: KernelEntry) -> list[Drift]:
    """The language and package versions of a kernel that changed since the committed snapshot."""
    found = []
    if old.language_version != entry.language_version:
        found.append(
            Drift(
                "kernel",
                name,
                "language version",
                f"{language_label(entry.language)} {old.language_version} → "
                f"{entry.language_version} since the committed snapshot",
                versions=True,
            )
        )
    old_packages, new_packages = old.packages, entry.packages
    for package in sorted(set(old_packages) & set(new_packages)):
        # A package that is gone is reported against the profile; here only real version changes count.
        before, after = old_packages[package], new_packages[package]
        if before is not None and after is not None and before != after:
            found.append(
                Drift(
                    "kernel",
                    name,
                    f"version {package}",
                    f"{package} {before} → {after} since the committed snapshot",
                    versions=True,
                )
            )
    return found


def _kernel_drift(profile: Profile, snapshot: Snapshot, baseline: Snapshot | None) -> list[Drift]:
    found = []
    old_kernels = baseline.kernels if baseline is not None else {}
    for kernel in profile.kernels:
        entry = snapshot.kernels.get(kernel.name)
        if entry is None:
            found.append(
                Drift("kernel", kernel.name, "missing", "in site.yml, but no such kernelspec at the site")
            )
            continue
        found += _kernel_against_profile(kernel, entry)
        old = old_kernels.get(kernel.name)
        if old is not None and not old.error and not entry.error:
            found += _kernel_versions_since(kernel.name, old, entry)
    return found


def relied_on_modules(profile: Profile) -> list[str]:
    """The modules pages and kernels rely on: `modules.relied_on` and every kernel's `modules`."""
    names = list(profile.modules.relied_on)
    for kernel in profile.kernels:
        names += [m for m in kernel.modules if m not in names]
    return names


def module_available(snapshot: Snapshot, module: str) -> bool:
    name, _, version = module.rpartition("/") if "/" in module else (module, "", "")
    entry = snapshot.modules.available.get(name)
    return entry is not None and (not version or version in entry.versions)


def _module_drift(profile: Profile, snapshot: Snapshot) -> list[Drift]:
    return [
        Drift("module", module, "missing", "relied on by the handbook, but Lmod does not offer it")
        for module in relied_on_modules(profile)
        if not module_available(snapshot, module)
    ]


def check_drift(
    profile: Profile,
    snapshot: Snapshot | Mapping[str, Any],
    *,
    baseline: Snapshot | Mapping[str, Any] | None = None,
    root: Path | None = None,
) -> list[Drift]:
    """Compare the profile's claims (and the baseline's versions) with a snapshot; name the pages."""
    snapshot = as_snapshot(snapshot)
    found = [
        *_kernel_drift(profile, snapshot, None if baseline is None else as_snapshot(baseline)),
        *partition_drift(profile, snapshot),
        *_module_drift(profile, snapshot),
        *hub_drift(profile, snapshot),
        *jupyter_drift(profile, snapshot),
    ]
    if root is None:
        return found
    vocabulary = build_vocabulary(profile, snapshot)
    owners = node_partitions(profile, snapshot)
    with_pages = []
    for drift in found:
        names, components = [drift.name], [f"{drift.kind}:{drift.name}"]
        if drift.kind == "node":
            # A node's pages are its own and those of its partition.
            partition = owners.get(drift.name, "")
            names, components = [drift.name, partition], [f"partition:{partition}"]
        elif drift.kind in ("hub", "jupyter"):
            components = [drift.kind]
        extra = SNAPSHOT_DIRECTIVES if drift.versions else ()
        pages = find_pages(
            root,
            names=names,
            directives=(*DIRECTIVES[drift.kind], *extra),
            components=components,
            vocabulary=vocabulary,
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
    baseline = named_or_baseline(
        args.baseline, root / DEFAULT_SNAPSHOT, what="a snapshot to compare versions with"
    )
    if args.snapshot:
        path = Path(args.snapshot)
        snapshot = require(load_snapshot(path), path, what="a snapshot to check")
    else:
        snapshot = probe_snapshot(profile, kernel_timeout=args.kernel_timeout)
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
