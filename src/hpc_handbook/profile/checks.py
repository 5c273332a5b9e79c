"""Check what one model of the profile cannot: unique names and references between sections."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hpc_handbook.errors import HandbookInputError
from hpc_handbook.profile.models import FILESYSTEM_ROLES, KERNEL_ROLES, Partition, Profile, kernel_fits_role


def _duplicates(names: list[str]) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)


def cross_check(profile: Profile, file: Path) -> list[HandbookInputError]:
    """Check what one model cannot: unique names and references between sections."""
    return [
        *_check_names(profile, file),
        *_check_kernel_partitions(profile, file),
        *_check_kernel_roles(profile, file),
        *_check_kernel_images(profile, file),
        *_check_filesystems_and_partitions(profile, file),
        *_check_accounts(profile, file),
        *_check_projects(profile, file),
        *_check_default_partition(profile, file),
        *_check_nodes(profile, file),
        *_check_gpu_scheduling(profile, file),
        *_check_doc_ci(profile, file),
    ]


def _partition_keys(profile: Profile) -> list[tuple[str, Partition]]:
    """Each partition with the key that names it in site.yml: `systems[0].partitions[1]`."""
    return [
        (f"systems[{s}].partitions[{p}]", partition)
        for s, system in enumerate(profile.systems)
        for p, partition in enumerate(system.partitions)
    ]


def _check_nodes(profile: Profile, file: Path) -> list[HandbookInputError]:
    """Each node belongs to one partition, and a partition's limits fit its nodes."""
    errors: list[HandbookInputError] = []
    owner: dict[str, str] = {}
    for key, partition in _partition_keys(profile):
        nodes = partition.node_setup
        for node in nodes.node_names:
            if node in owner:
                errors.append(
                    HandbookInputError(
                        file,
                        f"{key}.nodes.names",
                        f"node {node!r} is already in partition {owner[node]!r}; "
                        "each node belongs to one partition",
                    )
                )
            owner.setdefault(node, partition.name)
        limits = partition.limits
        if partition.nodes is None:
            continue
        if limits.max_nodes > nodes.count:
            errors.append(
                HandbookInputError(
                    file,
                    f"{key}.limits.max_nodes",
                    f"{limits.max_nodes} nodes per job, but the partition has {nodes.count} "
                    f"({nodes.names}); expected at most {nodes.count}",
                )
            )
        if limits.memory_per_node_gb > nodes.memory_gb:
            errors.append(
                HandbookInputError(
                    file,
                    f"{key}.limits.memory_per_node_gb",
                    f"{limits.memory_per_node_gb} GB per node, but its nodes have {nodes.memory_gb} GB; "
                    f"expected at most {nodes.memory_gb}",
                )
            )
    return errors


def _check_gpu_scheduling(profile: Profile, file: Path) -> list[HandbookInputError]:
    """GPUs that Slurm hands out need a partition whose nodes declare them."""
    with_gpus = [p for p in profile.partitions if p.limits.gpus_per_node > 0]
    if profile.capabilities.gpu_scheduling and not with_gpus:
        return [
            HandbookInputError(
                file,
                "capabilities.gpu_scheduling",
                "true, but no partition declares GPUs; "
                "expected a partition with limits.gpus_per_node above 0",
            )
        ]
    return []


def _check_doc_ci(profile: Profile, file: Path) -> list[HandbookInputError]:
    """The partition the doc CI dispatches to exists."""
    wanted = profile.doc_ci.dispatch_partition
    known = [p.name for p in profile.partitions]
    if wanted in known:
        nodes, count = profile.doc_ci.dispatch_nodes, profile.partition(wanted).node_setup.count
        if nodes is not None and nodes > count:
            return [
                HandbookInputError(
                    file,
                    "doc_ci.dispatch_nodes",
                    f"expected at most {count}: partition {wanted!r} has {count} node(s)",
                )
            ]
    if wanted is None or wanted in known:
        return []
    return [
        HandbookInputError(
            file,
            "doc_ci.dispatch_partition",
            f"unknown partition {wanted!r}; expected one of: {', '.join(known)}",
        )
    ]


def _check_names(profile: Profile, file: Path) -> list[HandbookInputError]:
    """Names of systems, partitions, kernels and filesystems are unique within their kind."""
    errors: list[HandbookInputError] = []
    for where, names in (
        ("systems", [s.name for s in profile.systems]),
        ("systems[].partitions", [p.name for p in profile.partitions]),
        ("kernels", [k.name for k in profile.kernels]),
        ("containers", [c.name for c in profile.containers]),
        ("filesystems", [f.name for f in profile.filesystems]),
    ):
        for name in _duplicates(names):
            errors.append(HandbookInputError(file, where, f"duplicate name {name!r}; names must be unique"))
    return errors


def _check_kernel_partitions(profile: Profile, file: Path) -> list[HandbookInputError]:
    """A kernel's partition exists and is one Jupyter can reach."""
    errors: list[HandbookInputError] = []
    partitions = {p.name: p for p in profile.partitions}
    for index, kernel in enumerate(profile.kernels):
        if kernel.partition is None:
            continue
        where = f"kernels[{index}].partition"
        if kernel.partition not in partitions:
            known = ", ".join(sorted(partitions))
            errors.append(
                HandbookInputError(
                    file, where, f"unknown partition {kernel.partition!r}; expected one of: {known}"
                )
            )
        elif kernel.gpus > partitions[kernel.partition].limits.gpus_per_node:
            errors.append(
                HandbookInputError(
                    file,
                    f"kernels[{index}].gpus",
                    f"{kernel.gpus} GPUs, but partition {kernel.partition!r} has "
                    f"{partitions[kernel.partition].limits.gpus_per_node} per node; expected at most that",
                )
            )
        elif not partitions[kernel.partition].jupyter:
            errors.append(
                HandbookInputError(
                    file,
                    where,
                    f"partition {kernel.partition!r} is marked 'jupyter: false'; "
                    "a kernel can only run on a partition Jupyter can reach",
                )
            )
    return errors


def _check_kernel_images(profile: Profile, file: Path) -> list[HandbookInputError]:
    """A container kernel's image is one of the profile's `containers`."""
    images = [c.name for c in profile.containers]
    return [
        HandbookInputError(
            file,
            f"kernels[{index}].image",
            f"unknown image {kernel.image!r}; expected one of: "
            + (", ".join(images) or "(the profile declares no containers)"),
        )
        for index, kernel in enumerate(profile.kernels)
        if kernel.image is not None and kernel.image not in images
    ]


def _check_kernel_roles(profile: Profile, file: Path) -> list[HandbookInputError]:
    """A kernel claims only a role it can play, and each role is claimed once."""
    errors: list[HandbookInputError] = []
    claimed: dict[str, str] = {}
    for index, kernel in enumerate(profile.kernels):
        if kernel.role is None:
            continue
        where = f"kernels[{index}].role"
        if not kernel_fits_role(kernel, kernel.role):
            errors.append(
                HandbookInputError(
                    file,
                    where,
                    f"kernel {kernel.name!r} cannot play {kernel.role!r}: that role needs "
                    f"{KERNEL_ROLES[kernel.role]}",
                )
            )
        elif kernel.role in claimed:
            errors.append(
                HandbookInputError(
                    file,
                    where,
                    f"role {kernel.role!r} is already claimed by kernel {claimed[kernel.role]!r}; "
                    "one kernel per role",
                )
            )
        else:
            claimed[kernel.role] = kernel.name
    return errors


def _check_filesystems_and_partitions(profile: Profile, file: Path) -> list[HandbookInputError]:
    """The filesystems the pages explain exist, and Jupyter can reach at least one partition."""
    errors: list[HandbookInputError] = []
    missing_roles = [role for role in FILESYSTEM_ROLES if role not in {f.name for f in profile.filesystems}]
    if missing_roles:
        errors.append(
            HandbookInputError(
                file,
                "filesystems",
                f"expected filesystems named {', '.join(FILESYSTEM_ROLES)} (the pages explain each); "
                f"missing: {', '.join(missing_roles)}",
            )
        )
    if not profile.jupyter_partitions:
        errors.append(
            HandbookInputError(
                file, "systems[].partitions", "expected at least one partition with jupyter: true"
            )
        )
    return errors


def _check_default_partition(profile: Profile, file: Path) -> list[HandbookInputError]:
    defaults = [p.name for p in profile.partitions if p.default]
    if len(defaults) <= 1:
        return []
    return [
        HandbookInputError(
            file, "systems[].partitions[].default", f"only one default partition allowed, got {defaults}"
        )
    ]


def _check_accounts(profile: Profile, file: Path) -> list[HandbookInputError]:
    """The reference site's accounts: unique names, the ports apart, the doc CI's account among them."""
    setup = profile.reference_site
    if setup is None:
        return []
    errors = [
        HandbookInputError(file, "reference_site.users", f"duplicate name {name!r}; names must be unique")
        for name in _duplicates([u.name for u in setup.accounts])
    ]
    if setup.hub_port == setup.hub_api_port:
        errors.append(
            HandbookInputError(file, "reference_site.hub_api_port", "expected a port other than hub_port")
        )
    if profile.hub is not None and profile.hub.doc_ci_user not in {u.name for u in setup.users}:
        known = ", ".join(u.name for u in setup.users) or "none"
        errors.append(
            HandbookInputError(
                file,
                "hub.doc_ci_user",
                f"unknown account {profile.hub.doc_ci_user!r}; expected one of reference_site.users: {known}",
            )
        )
    return errors


def _check_projects(profile: Profile, file: Path) -> list[HandbookInputError]:
    """Unique project names; where projects are declared, every account's projects are among them."""
    declared = [p.name for p in profile.projects]
    errors = [
        HandbookInputError(file, "projects", f"duplicate name {name!r}; names must be unique")
        for name in _duplicates(declared)
    ]
    if not declared or profile.reference_site is None:
        return errors
    for index, account in enumerate(profile.reference_site.users):
        for key, names in (("project", [account.project]), ("more_projects", account.more_projects)):
            errors += [
                HandbookInputError(
                    file,
                    f"reference_site.users[{index}].{key}",
                    f"unknown project {name!r}; expected one of projects: {', '.join(declared)}",
                )
                for name in names
                if name not in declared
            ]
    load_test = profile.reference_site.load_test
    if load_test is not None and load_test.project not in declared:
        errors.append(
            HandbookInputError(
                file,
                "reference_site.load_test.project",
                f"unknown project {load_test.project!r}; expected one of projects: {', '.join(declared)}",
            )
        )
    return errors
