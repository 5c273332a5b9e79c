"""The drift check: the site against what the handbook says about it, and against its last snapshot.

It checks the claims of `site.yml` (kernels, partitions, their limits and nodes, the modules
the pages rely on, the users' extensions) against a probe, and that no node is drained or
down; and versions against the last committed snapshot, because `site.yml` makes no version
claims. Each mismatch names the pages that show the affected value (`drift.pages`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpc_handbook.data.snapshot import (
    KernelEntry,
    Snapshot,
    as_snapshot,
)
from hpc_handbook.drift.findings import Drift
from hpc_handbook.drift.hub import environment_drift, hub_drift, jupyter_drift
from hpc_handbook.drift.pages import DIRECTIVES, SNAPSHOT_DIRECTIVES, find_pages
from hpc_handbook.drift.partitions import node_partitions, partition_drift
from hpc_handbook.profile import Kernel, Profile
from hpc_handbook.site_facts import build_vocabulary
from hpc_handbook.site_facts.formats import language_name

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
                f"{language_name(entry.language)} {old.language_version} → "
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
        *environment_drift(profile, snapshot),
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
