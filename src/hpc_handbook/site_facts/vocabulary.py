"""The names the site has: partitions, nodes, features, kernels, modules, extensions, paths.

`build_vocabulary` gathers them from the profile and, when it describes the same site,
the committed snapshot: the profile for what the centre declares, the snapshot for what
only a probe can know (every module version, the extensions in users' servers, the spawn
form as users meet it). Names the site once had and retired come from the snapshot too,
so a page that still names them is caught.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hpc_handbook.data.snapshot import Snapshot, load_snapshot
from hpc_handbook.profile import Partition, Profile

#: The spawn form's place that queues no job.
LOGIN_PLACE = "login"
LOGIN_PLACE_LABEL = "Login node (no job, starts at once)"


@dataclass(frozen=True)
class SpawnPlace:
    """One place the spawn form offers: the login node, or a partition Jupyter reaches."""

    value: str
    label: str
    partition: str | None
    max_walltime: str
    max_nodes: int
    max_cpus: int


def spawn_places(profile: Profile) -> list[SpawnPlace]:
    """The form's places in its order: the login node (its default), then each Jupyter partition."""
    places = [SpawnPlace(LOGIN_PLACE, LOGIN_PLACE_LABEL, None, "00:00:00", 1, 1)]
    for partition in profile.jupyter_partitions:
        limits = partition.limits
        places.append(
            SpawnPlace(
                partition.name,
                f"Partition {partition.name}",
                partition.name,
                limits.max_walltime,
                limits.max_nodes,
                partition.node_setup.cpus,
            )
        )
    return places


@dataclass(frozen=True)
class Retired:
    """Names the site no longer has, kept so that a page still naming them is caught."""

    partitions: frozenset[str] = frozenset()
    kernels: frozenset[str] = frozenset()
    #: `name/version`.
    modules: frozenset[str] = frozenset()
    extensions: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Vocabulary:
    profile: Profile
    #: None when there is no snapshot of this site (another centre's book, before its first probe).
    snapshot: Snapshot | None
    #: Each example's audience, by notebook name: what the book counts.
    example_audiences: Mapping[str, str] = field(default_factory=dict)

    # --- Partitions and nodes --------------------------------------------------------------

    @property
    def partitions(self) -> dict[str, Partition]:
        return {p.name: p for p in self.profile.partitions}

    @property
    def partition_names(self) -> frozenset[str]:
        seen = set(self.partitions)
        if self.snapshot is not None:
            seen |= set(self.snapshot.partitions)
        return frozenset(seen)

    @property
    def node_names(self) -> frozenset[str]:
        names = {n for p in self.profile.partitions for n in p.node_setup.node_names}
        if self.snapshot is not None:
            names |= {n for entry in self.snapshot.partitions.values() for n in entry.nodes}
        return frozenset(names)

    @property
    def node_features(self) -> frozenset[str]:
        features = {f for p in self.profile.partitions for f in p.node_setup.features}
        if self.snapshot is not None:
            for entry in self.snapshot.partitions.values():
                features |= {f for node in entry.nodes.values() for f in node.features}
        return frozenset(features)

    def partition_role(self, role: str) -> Partition | None:
        """The partition that plays a role: `batch`, `interactive` or `gpu` (the first with GPUs)."""
        if role == "batch":
            return self.profile.batch_partition
        if role == "interactive":
            return self.profile.interactive_partition
        if role == "gpu":
            return next((p for p in self.profile.partitions if p.limits.gpus_per_node > 0), None)
        raise KeyError(role)

    # --- Kernels -----------------------------------------------------------------------------

    @property
    def kernel_names(self) -> frozenset[str]:
        names = {k.name for k in self.profile.kernels}
        if self.snapshot is not None:
            names |= set(self.snapshot.kernels)
        return frozenset(names)

    @property
    def kernel_display_names(self) -> frozenset[str]:
        names = {k.display_name for k in self.profile.kernels}
        if self.snapshot is not None:
            names |= {k.display_name for k in self.snapshot.kernels.values() if k.display_name}
        return frozenset(names)

    # --- Modules -----------------------------------------------------------------------------

    @property
    def modules(self) -> dict[str, frozenset[str]]:
        """Each module family and its versions: the snapshot's, plus what the profile relies on."""
        versions: dict[str, set[str]] = {}
        declared = [*self.profile.modules.relied_on, *(m for k in self.profile.kernels for m in k.modules)]
        for module in declared:
            family, _, version = module.partition("/")
            versions.setdefault(family, set()).update({version} if version else set())
        if self.snapshot is not None and self.snapshot.modules.error is None:
            for family, entry in self.snapshot.modules.available.items():
                versions.setdefault(family, set()).update(entry.versions)
        return {family: frozenset(found) for family, found in versions.items()}

    def default_module(self, family: str) -> str | None:
        """`family/version` as `module load family` gives it; None for a family the site lacks."""
        if self.snapshot is not None:
            entry = self.snapshot.modules.available.get(family)
            if entry is not None and entry.default:
                return f"{family}/{entry.default}"
        declared = [*self.profile.modules.relied_on, *(m for k in self.profile.kernels for m in k.modules)]
        return next((m for m in declared if m.partition("/")[0] == family), None)

    # --- The users' Jupyter environment ------------------------------------------------------

    @property
    def probed_jupyter(self) -> bool:
        """Whether the snapshot saw the users' own servers (else pages fall back to the profile)."""
        return self.snapshot is not None and self.snapshot.jupyter.source == "users-server"

    @property
    def extensions(self) -> list[str]:
        """The JupyterLab extensions users' servers have: probed, else as the profile declares."""
        if self.probed_jupyter:
            assert self.snapshot is not None
            return self.snapshot.jupyter.declared_extensions_found(
                self.profile.jupyter.default_environment.extensions
            )
        return list(self.profile.jupyter.default_environment.extensions)

    @property
    def proxy_apps(self) -> list[str]:
        if self.probed_jupyter:
            assert self.snapshot is not None
            return sorted(self.snapshot.jupyter.proxy_apps)
        return list(self.profile.jupyter.server_proxy_allowed)

    @property
    def extension_names(self) -> frozenset[str]:
        """Every name an installed extension goes by: its package's and its JupyterLab part's."""
        names = set(self.extensions)
        if self.probed_jupyter:
            assert self.snapshot is not None
            names |= set(self.snapshot.jupyter.lab_extensions) | set(self.snapshot.jupyter.server_extensions)
            names |= {name.split("/")[-1] for name in self.snapshot.jupyter.lab_extensions}
        return frozenset(names)

    # --- Paths and the spawn form ------------------------------------------------------------

    @property
    def site_paths(self) -> tuple[str, ...]:
        """Path patterns a page may name: the filesystems and the module tree."""
        return (*(f.path for f in self.profile.filesystems), *self.profile.modules.paths)

    @property
    def places(self) -> list[SpawnPlace]:
        return spawn_places(self.profile)

    @property
    def retired(self) -> Retired:
        if self.snapshot is None:
            return Retired()
        gone = self.snapshot.retired
        return Retired(
            partitions=frozenset(gone.partitions) - self.partition_names,
            kernels=frozenset(gone.kernels) - self.kernel_names,
            modules=frozenset(
                m
                for m in gone.modules
                if m.partition("/")[2] not in self.modules.get(m.partition("/")[0], ())
            ),
            extensions=frozenset(gone.extensions) - self.extension_names,
        )


def build_vocabulary(
    profile: Profile, snapshot: Snapshot | None, example_audiences: Mapping[str, str] | None = None
) -> Vocabulary:
    """The site's vocabulary; a snapshot of another site (by its short name) is left out."""
    if snapshot is not None and snapshot.site != profile.site.short_name:
        snapshot = None
    return Vocabulary(profile=profile, snapshot=snapshot, example_audiences=dict(example_audiences or {}))


def example_audiences(examples: Path) -> dict[str, str]:
    """Each example notebook's audience, from its handbook metadata (no notebook library needed)."""
    audiences = {}
    for path in sorted(examples.glob("*.ipynb")):
        try:
            meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("handbook", {})
        except (OSError, ValueError):
            continue  # the doc CI's contract check names a notebook it cannot read
        if isinstance(meta, dict) and "audience" in meta:
            audiences[path.stem] = str(meta["audience"])
    return audiences


def load_vocabulary(profile: Profile, *, snapshot: Path, examples: Path) -> Vocabulary:
    """The vocabulary of a book's checkout: its committed snapshot and its examples."""
    return build_vocabulary(profile, load_snapshot(snapshot), example_audiences(examples))
