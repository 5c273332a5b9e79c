"""The system snapshot: what `hpc-handbook probe` saw at the site, in `book/data/snapshot.json`.

The probe writes it; the drift check, the changelog of system changes and the book's
status page and scorecard read it. Only `taken` varies between two probes of an
unchanged site, so it is left out of every comparison.

It is committed, so it holds only what a site publishes anyway. Each partition lists its
nodes by their Slurm names, the public names the profile's `nodes` also gives, with their
state and what they offer; the host a node runs on (`NodeHostName`, `NodeAddr`), its
operating system, boot time, load and whoever drained it stay out.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from hpc_handbook.data.files import (
    DataModel,
    dump_json,
    parse_json,
    read_json,
    require,
    validate_data,
    write_json,
)

#: Where the committed snapshot lives, relative to the repository root.
DEFAULT_SNAPSHOT = Path("book/data/snapshot.json")
#: Bump when the snapshot's layout changes, so old snapshots are read with care.
SNAPSHOT_FORMAT: Literal[1] = 1
#: Top-level fields that describe the probe run rather than the site.
VOLATILE_FIELDS = ("taken",)
#: The command that regenerates the snapshot, quoted on the generated pages and in errors.
REGENERATE_COMMAND = "nox -s probe"
#: The spawn form's environment value for a server from the user's own start-up script.
OWN_ENVIRONMENT = "own"
_HINT = f"regenerate the snapshot with `{REGENERATE_COMMAND}`"


class KernelEntry(DataModel):
    """One kernelspec and what the kernel itself reported."""

    display_name: str = ""
    language: str = ""
    #: How it starts (`local`, `modules`, `slurm`), from the kernelspec's handbook metadata.
    start: str = "unknown"
    start_details: dict[str, str | int | list[str]] = Field(default_factory=dict)
    language_version: str | None = None
    #: The profile's key packages; None for one the kernel does not have.
    packages: dict[str, str | None] = Field(default_factory=dict)
    implementation: str | None = None
    implementation_version: str | None = None
    #: Why the kernel did not answer; None when it did.
    error: str | None = None
    #: A hash of the kernelspec and the versions, so a change of either shows.
    fingerprint: str = ""


#: A node as a user meets it: "up" takes jobs, "drained" takes no new ones, "down" takes none.
NodeState = Literal["up", "drained", "down"]


class NodeEntry(DataModel):
    """One node of a partition: its state and what it offers, as Slurm reports them."""

    state: NodeState
    #: Why the node is drained or down, as the admin wrote it; empty when it is up.
    reason: str = ""
    cpus: int
    memory_mb: int
    #: What `--constraint` selects, sorted.
    features: list[str] = Field(default_factory=list)
    #: GPUs from the node's `Gres=gpu:N`; 0 without.
    gpus: int = 0


class PartitionEntry(DataModel):
    """One Slurm partition's state, limits and nodes."""

    state: str
    default: bool
    #: Slurm's own spelling, such as `1-00:00:00` or `UNLIMITED`.
    max_time: str
    max_nodes: int | Literal["UNLIMITED"]
    total_nodes: int
    total_cpus: int
    #: What one job may use on one node: the partition cap or the smallest node.
    memory_per_node_mb: int | None
    gpus_per_node: int
    #: Its nodes by Slurm name; empty in snapshots taken before nodes were recorded.
    nodes: dict[str, NodeEntry] = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _without_empty_nodes(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A snapshot from before nodes were recorded is written back as it was read.
        data: dict[str, Any] = handler(self)
        if not self.nodes:
            data.pop("nodes", None)
        return data


class ModuleEntry(DataModel):
    versions: list[str] = Field(default_factory=list)
    default: str | None = None


class Modules(DataModel):
    available: dict[str, ModuleEntry] = Field(default_factory=dict)
    #: Why the modules could not be listed; None when they could.
    error: str | None = None


def extension_key(name: str) -> str:
    """How a page or the profile may name an extension: without its npm scope, `-` for `_`."""
    return name.rsplit("/", 1)[-1].lower().replace("_", "-")


class Extension(DataModel):
    version: str | None = None
    enabled: bool = False
    #: The Python package that installs it, where the server says.
    package: str | None = None

    def goes_by(self, found_as: str, name: str) -> bool:
        """Whether the extension, listed as `found_as`, is the one a page or the profile calls `name`:
        by its listed name (JupyterLab lists `@scope/name` as `scope-name`) or by its package."""
        key, listed = extension_key(name), extension_key(found_as)
        package = extension_key(self.package) if self.package else None
        return key in (listed, package) or listed.endswith(f"-{key}")


#: Where the Jupyter part was read: from a user's own server, started through the hub as users
#: start theirs, or (at a site whose profile names no hub) from the probe's own environment.
JupyterSource = Literal["users-server", "tool-environment"]


class Jupyter(DataModel):
    source: JupyterSource = "tool-environment"
    packages: dict[str, str] = Field(default_factory=dict)
    lab_extensions: dict[str, Extension] = Field(default_factory=dict)
    server_extensions: dict[str, Extension] = Field(default_factory=dict)
    #: The applications jupyter-server-proxy opens from the Launcher, by name.
    proxy_apps: list[str] = Field(default_factory=list)
    #: Why users' servers could not be asked; None when they answered.
    error: str | None = None

    def has_extension(self, name: str) -> bool:
        """Whether an enabled Lab or server extension goes by this name (`jupyterlab-lmod` for
        `@cmd-ntrf/jupyterlab-lmod`, `jupyter-server-proxy` for `jupyter_server_proxy`)."""
        installed = {**self.server_extensions, **self.lab_extensions}
        return any(
            extension_key(found) == extension_key(name) and e.enabled for found, e in installed.items()
        )

    def declared_extensions_found(self, declared: list[str]) -> list[str]:
        """The declared extensions that users' servers really have, as the profile names them."""
        return [name for name in declared if self.has_extension(name)]


class RetiredNames(DataModel):
    """Names the site had in an earlier snapshot and no longer has, so pages still naming them fail."""

    partitions: list[str] = Field(default_factory=list)
    kernels: list[str] = Field(default_factory=list)
    #: As `name/version`.
    modules: list[str] = Field(default_factory=list)
    extensions: list[str] = Field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.partitions or self.kernels or self.modules or self.extensions)


class Versions(DataModel):
    slurm: str | None = None
    lmod: str | None = None


class FormPlace(DataModel):
    """One choice of the spawn form: a place ("where your server runs") or a JupyterLab environment."""

    value: str
    label: str


class HubService(DataModel):
    """The hub as it answers its API and its spawn form: what users meet before any kernel."""

    url: str
    version: str | None = None
    #: The spawner class and its package's version, as the hub's `/info` reports them.
    spawner: str | None = None
    spawner_version: str | None = None
    #: The spawn form's "where your server runs" choices, in the form's order: the first is its default.
    form_places: list[FormPlace] = Field(default_factory=list)
    #: The form's JupyterLab environments, in its order: the first is the default; `own` is the
    #: user's own start-up script.
    form_environments: list[FormPlace] = Field(default_factory=list)
    #: Each environment's Jupyter (JupyterLab, its extensions), read from a server started in it.
    environments: dict[str, Jupyter] = Field(default_factory=dict)
    #: The labels of the form's fields, in order.
    form_fields: list[str] = Field(default_factory=list)
    #: The kernels a user's server on the login node lists: what JupyterLab's Launcher shows.
    server_kernels: list[str] | None = None
    #: What the doc CI's API token may do, as the hub reports it; `!user` means its own account's.
    doc_ci_scopes: list[str] = Field(default_factory=list)
    #: Why the hub could not be asked; None when it answered.
    error: str | None = None


class Snapshot(DataModel):
    """The whole snapshot of one site."""

    format_version: Literal[1] = Field(default=SNAPSHOT_FORMAT, alias="format")
    taken: dt.date
    site: str
    kernels: dict[str, KernelEntry]
    partitions: dict[str, PartitionEntry]
    modules: Modules
    jupyter: Jupyter = Field(default_factory=Jupyter)
    versions: Versions = Field(default_factory=Versions)
    #: None for a site whose profile names no hub.
    hub: HubService | None = None
    retired: RetiredNames = Field(default_factory=RetiredNames)


def as_snapshot(value: Snapshot | Mapping[str, Any], *, file: str | Path = "snapshot") -> Snapshot:
    """A snapshot model, validating a plain mapping (as `probe_site` returns) on the way in."""
    if isinstance(value, Snapshot):
        return value
    return validate_data(dict(value), Snapshot, file=file, hint=_HINT)


def compared_content(snapshot: Snapshot | Mapping[str, Any]) -> dict[str, Any]:
    """The part of a snapshot that describes the site: everything but the run's date."""
    data = as_snapshot(snapshot).model_dump(mode="json", by_alias=True)
    return {k: v for k, v in data.items() if k not in VOLATILE_FIELDS}


def dump_snapshot(snapshot: Snapshot | Mapping[str, Any]) -> str:
    return dump_json(as_snapshot(snapshot))


def write_snapshot(path: Path, snapshot: Snapshot | Mapping[str, Any]) -> None:
    """Write the snapshot atomically, so the book never reads half a file."""
    write_json(path, as_snapshot(snapshot, file=path))


def parse_snapshot(text: str, *, file: str | Path) -> Snapshot:
    return parse_json(text, Snapshot, file=file, hint=_HINT)


def load_snapshot(path: Path) -> Snapshot | None:
    """Read a snapshot; None when there is no such file."""
    return read_json(path, Snapshot, hint=_HINT)


def committed_snapshot(path: Path) -> Snapshot | None:
    """The snapshot as last committed to git (HEAD); None when there is none."""
    path = path.resolve()
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=path.parent if path.parent.exists() else None,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        relative = path.relative_to(Path(top).resolve()).as_posix()
        text = subprocess.run(
            ["git", "show", f"HEAD:{relative}"], cwd=top, capture_output=True, text=True, check=True
        ).stdout
    except (subprocess.CalledProcessError, FileNotFoundError, ValueError, NotADirectoryError):
        return None
    return parse_snapshot(text, file=f"HEAD:{relative}")


def baseline_snapshot(path: Path) -> Snapshot | None:
    """What to compare a new probe with: the committed snapshot, else the file as it is, else None."""
    committed = committed_snapshot(path)
    if committed is None:
        return load_snapshot(path)
    return committed


def named_or_baseline(named: str | None, default: Path, *, what: str) -> Snapshot | None:
    """The snapshot the user named (bad input if it does not exist), else the baseline at `default`."""
    if not named:
        return baseline_snapshot(default)
    path = Path(named)
    return require(load_snapshot(path), path, what=what)


def slurm_duration_seconds(value: str) -> int | None:
    """Convert a Slurm time ([D-]HH:MM:SS, MM:SS, minutes) to seconds; None for UNLIMITED."""
    value = value.strip()
    if value.upper() in {"UNLIMITED", "INFINITE", "NONE", ""}:
        return None
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", value)
    if match is None:
        raise ValueError(f"not a Slurm time: {value!r}")
    days, first, second, third = match.groups()
    if "-" in value:
        hours, minutes, seconds = int(first), int(second or 0), int(third or 0)
    elif third is not None:
        hours, minutes, seconds = int(first), int(second), int(third)
    elif second is not None:
        hours, minutes, seconds = 0, int(first), int(second)
    else:
        hours, minutes, seconds = 0, int(first), 0
    return ((int(days or 0) * 24 + hours) * 60 + minutes) * 60 + seconds
