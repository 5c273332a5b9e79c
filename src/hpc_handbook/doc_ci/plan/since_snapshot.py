"""`examples --since-snapshot`: run first what the last system changes can break.

After maintenance the probe writes a new snapshot; compared with the committed one it says
which kernels, partitions, modules and services changed. Each example declares its kernels
and where it runs, and its `parameters` cell names the partitions, modules and kernels it
uses, so the examples a change can affect are known before anything runs. The drift check
adds the example pages that show a value which newly disagrees with the profile.

`plan_since_snapshot` is pure: snapshots, examples and findings in, an order with reasons out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal

from hpc_handbook.changelog.fragments import ChangeItem
from hpc_handbook.changes.detect import snapshot_changes
from hpc_handbook.changes.items import ComponentChange
from hpc_handbook.data.files import require
from hpc_handbook.data.snapshot import (
    DEFAULT_SNAPSHOT,
    KernelEntry,
    Snapshot,
    committed_snapshot,
    compared_content,
    load_snapshot,
)
from hpc_handbook.drift.check import check_drift
from hpc_handbook.drift.findings import Drift
from hpc_handbook.drift.pages import name_pattern
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.examples.contract import Example
from hpc_handbook.profile import Profile
from hpc_handbook.site_facts import site_parameters

#: The probe's diff of each component, by kind and name.
Described = Mapping[tuple[str, str], ComponentChange]
#: The kinds of change that move examples ahead; a change of JupyterLab or the hub concerns
#: every example alike, so it is reported but moves none.
KINDS = ("kernel", "partition", "module", "service")


#: What became of a component: only the first ones break an example that uses it, not merely change it.
ChangeStatus = Literal[
    "lost",
    "stopped answering",
    "cannot list the modules",
    "lost from users' servers",
    "added",
    "answers again",
    "added to users' servers",
    "changed",
]
SEVERE: frozenset[str] = frozenset(
    {"lost", "stopped answering", "cannot list the modules", "lost from users' servers"}
)


@dataclasses.dataclass(frozen=True)
class SystemChange:
    """One component that differs between the baseline and the new snapshot."""

    kind: str  # kernel, partition, module, service (slurm, lmod) or jupyter
    name: str
    status: ChangeStatus
    #: What changed in it, as the probe's diff found it; empty when it came, went or stopped.
    items: tuple[ChangeItem, ...] = ()
    #: What changed where the diff lists nothing, such as an edited kernelspec.
    what: str = ""

    def __str__(self) -> str:
        listed = "; ".join(item.render() for item in self.items) or self.what
        details = f" ({listed})" if listed else ""
        return f"{self.kind} {self.name} {self.status}{details}"

    @property
    def severe(self) -> bool:
        """Gone, not answering or down: an example that uses it fails, not merely differs."""
        return self.status in SEVERE or any(item.label == "State" for item in self.items)


@dataclasses.dataclass(frozen=True)
class Uses:
    """What of the site one example relies on, from its contract, its kernels and its parameters."""

    kernels: frozenset[str] = frozenset()
    lists_kernels: bool = False  # a `kernel_names` parameter: a kernel that comes or goes shows
    partitions: frozenset[str] = frozenset()
    modules: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()  # slurm, lmod


@dataclasses.dataclass(frozen=True)
class Planned:
    """One example in the planned order, with why it runs first (no reasons: the usual order)."""

    name: str
    reasons: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class SincePlan:
    changes: tuple[SystemChange, ...]
    first: tuple[Planned, ...]
    rest: tuple[Planned, ...]

    @property
    def order(self) -> list[str]:
        """The example names, affected first; the runner keeps its own order for the rest."""
        return [p.name for p in self.first]


# --- What changed -------------------------------------------------------------------------


def _from_diff(kind: str, name: str, change: ComponentChange | None, what: str = "") -> SystemChange:
    """The probe's diff of a component, as the plan needs it; `what` says what changed without one."""
    if change is None:
        return SystemChange(kind, name, "changed", what=what)
    if change.came_or_went:
        return SystemChange(kind, name, "added" if change.change_type == "added" else "lost")
    return SystemChange(kind, name, "changed", change.items)


def _kernel_changes(
    old: Mapping[str, KernelEntry], new: Mapping[str, KernelEntry], described: Described
) -> Iterator[SystemChange]:
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if after is None or before is None:
            yield SystemChange("kernel", name, "lost" if after is None else "added")
        elif after.error and not before.error:
            yield SystemChange("kernel", name, "stopped answering")
        elif before.error and not after.error:
            yield SystemChange("kernel", name, "answers again")
        else:
            # A kernelspec edited without a new version shows only in its fingerprint or start details.
            yield _from_diff("kernel", name, described.get(("kernel", name)), "kernelspec")


def _entry_changes(
    kind: str, old: Mapping[str, object], new: Mapping[str, object], described: Described
) -> Iterator[SystemChange]:
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before != after:
            if after is None or before is None:
                yield SystemChange(kind, name, "lost" if after is None else "added")
            else:
                yield _from_diff(kind, name, described.get((kind, name)))


def _service_changes(baseline: Snapshot, snapshot: Snapshot, described: Described) -> list[SystemChange]:
    changes = []
    if snapshot.modules.error and not baseline.modules.error:
        changes.append(SystemChange("service", "lmod", "cannot list the modules"))
    for tool in ("slurm", "lmod"):
        if getattr(baseline.versions, tool) != getattr(snapshot.versions, tool):
            changes.append(_from_diff("service", tool, described.get(("service", tool))))
    if baseline.jupyter != snapshot.jupyter:
        changes.append(_from_diff("jupyter", "server", described.get(("jupyter", "server"))))
    if baseline.hub != snapshot.hub:
        changes.append(_from_diff("jupyter", "hub", described.get(("hub", "hub"))))
    return changes


def _server_kernel_changes(baseline: Snapshot, snapshot: Snapshot) -> list[SystemChange]:
    """Kernels that came to or went from the list a user's server shows (the examples run there)."""
    if baseline.hub is None or snapshot.hub is None:
        return []
    if baseline.hub.server_kernels is None or snapshot.hub.server_kernels is None:
        return []
    before, after = set(baseline.hub.server_kernels), set(snapshot.hub.server_kernels)
    return [
        *(SystemChange("kernel", k, "lost from users' servers") for k in sorted(before - after)),
        *(SystemChange("kernel", k, "added to users' servers") for k in sorted(after - before)),
    ]


def system_changes(baseline: Snapshot, snapshot: Snapshot) -> list[SystemChange]:
    """Every component that differs, also what the changelog leaves out (a kernel that stopped answering)."""
    if compared_content(baseline) == compared_content(snapshot):
        return []
    described: Described = {(c.kind, c.name): c for c in snapshot_changes(baseline, snapshot)}
    return [
        *_kernel_changes(baseline.kernels, snapshot.kernels, described),
        *_entry_changes("partition", baseline.partitions, snapshot.partitions, described),
        *_entry_changes("module", baseline.modules.available, snapshot.modules.available, described),
        *_server_kernel_changes(baseline, snapshot),
        *_service_changes(baseline, snapshot, described),
    ]


def new_findings(
    profile: Profile, snapshot: Snapshot, baseline: Snapshot, *, root: Path | None = None
) -> list[Drift]:
    """The drift findings of the new snapshot that the baseline did not have, with their pages.

    With `root`, this reads the book's pages and examples to name the pages; without, it is pure.
    """
    known = {(d.kind, d.name, d.check) for d in check_drift(profile, baseline)}
    return [
        d
        for d in check_drift(profile, snapshot, baseline=baseline, root=root)
        if (d.kind, d.name, d.check) not in known
    ]


# --- What each example uses ---------------------------------------------------------------


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def example_uses(example: Example, profile: Profile) -> Uses:
    """The kernels, partitions, modules and services an example relies on."""
    declared = {k.name: k for k in profile.kernels}
    values = site_parameters(profile)
    kernels, partitions, modules = set(example.kernels), set(), set()
    if example.partition is not None:
        partitions.add(example.partition)
    # Parameters name what the example's cells use beyond its own kernel: `batch_partition`,
    # `compiler_module`, `relied_on_modules`, `slurm_kernel`, ...
    for parameter in example.parameter_names:
        named = _strings(values.get(parameter))
        if parameter.endswith(("_partition", "_partitions")):
            partitions.update(named)
        elif parameter == "batch_max_walltime":
            partitions.add(profile.batch_partition.name)
        elif parameter.endswith(("_module", "_modules")):
            modules.update(named)
        elif parameter.endswith("_kernel"):
            kernels.update(named)
    for name in sorted(kernels):
        kernel = declared.get(name)
        if kernel is not None:
            modules.update(kernel.modules)
            if kernel.partition:
                partitions.add(kernel.partition)
    services = {c for c in ("slurm", "lmod") if c in example.meta.requires}
    if partitions:
        services.add("slurm")
    if modules:
        services.add("lmod")
    return Uses(
        kernels=frozenset(kernels),
        lists_kernels="kernel_names" in example.parameter_names,
        partitions=frozenset(partitions),
        modules=frozenset(modules),
        services=frozenset(services),
    )


def _module_family(module: str) -> str:
    return module.rpartition("/")[0] if "/" in module else module


def _affects(change: SystemChange, uses: Uses) -> bool:
    if change.kind == "kernel":
        came_or_went = change.status in ("lost", "added")
        return change.name in uses.kernels or (uses.lists_kernels and came_or_went)
    if change.kind == "partition":
        return change.name in uses.partitions
    if change.kind == "module":
        return change.name in {_module_family(m) for m in uses.modules}
    if change.kind == "service":
        return change.name in uses.services
    return False


def _code(example: Example) -> str:
    """The example's code, less its `parameters` cell: the parameters are judged by what they name."""
    return "\n".join(
        cell.source
        for cell in example.notebook.cells
        if cell.cell_type == "code" and "parameters" not in cell.get("metadata", {}).get("tags", [])
    )


def _names(text: str, name: str) -> bool:
    # As the drift check matches names: `python3` must not match `python3-batch`.
    return name_pattern(name).search(text) is not None


def _page_reasons(example: Example, findings: Iterable[Drift], direct: set[tuple[str, str]]) -> list[str]:
    """The new drift findings that name the example's page and whose value its code uses by name.

    The drift check names a page for a word in its prose too ("your first batch job"); only a
    mention in the code can break a cell.
    """
    page, code = f"examples/{example.path.name}", _code(example)
    return [
        f"its code names {d.kind} {d.name}: {d.message}"
        for d in findings
        if page in d.pages and (d.kind, d.name) not in direct and _names(code, d.name)
    ]


# --- The plan -----------------------------------------------------------------------------


def plan_since_snapshot(
    examples: Sequence[Example],
    *,
    profile: Profile,
    snapshot: Snapshot,
    baseline: Snapshot,
    findings: Sequence[Drift] = (),
) -> SincePlan:
    """Order the examples: those a change since `baseline` can affect first, with the reasons.

    Those a change touches directly (their kernel, partition, module or service) come before
    those whose code names a value the drift check newly finds wrong; within each, what is
    lost or down first, then the longest timeouts, as the runner orders the rest.
    `findings` are the new drift findings, with their pages (`new_findings`).
    """
    changes = system_changes(baseline, snapshot)
    first: list[tuple[tuple[int, int, int, str], Planned]] = []
    rest: list[Planned] = []
    for example in examples:
        touching = [c for c in changes if c.kind in KINDS and _affects(c, example_uses(example, profile))]
        pages = _page_reasons(example, findings, {(c.kind, c.name) for c in touching})
        if not touching and not pages:
            rest.append(Planned(example.name))
            continue
        severe = any(c.severe for c in touching)
        key = (0 if touching else 1, 0 if severe else 1, -example.meta.timeout, example.name)
        first.append((key, Planned(example.name, (*map(str, touching), *pages))))
    return SincePlan(tuple(changes), tuple(p for _, p in sorted(first)), tuple(rest))


def format_plan(plan: SincePlan, *, compared: str) -> list[str]:
    """The lines the command prints before the run: what changed, and what runs first and why."""
    if not plan.changes:
        return [f"since-snapshot: nothing changed ({compared}); running in the usual order"]
    names = ", ".join(f"{c.kind} {c.name}" for c in plan.changes)
    count = len(plan.changes)
    lines = [f"since-snapshot: {count} change{'s' if count != 1 else ''} ({compared}): {names}"]
    if not plan.first:
        lines.append("since-snapshot: no example uses what changed; running in the usual order")
        return lines
    lines += [f"first: {p.name} ({'; '.join(p.reasons)})" for p in plan.first]
    if plan.rest:
        lines.append(
            f"then: the other {len(plan.rest)} example{'s' if len(plan.rest) != 1 else ''} in the usual order"
        )
    return lines


# --- Reading the snapshots ----------------------------------------------------------------


def load_compared(
    snapshot_path: Path, baseline_path: Path | None, *, root: Path
) -> tuple[Snapshot, Snapshot, str]:
    """The new snapshot, the baseline (the named file, else the one committed in git) and how to say so."""
    snapshot = require(load_snapshot(snapshot_path), snapshot_path, what="a snapshot written by the probe")
    if baseline_path is not None:
        baseline = require(load_snapshot(baseline_path), baseline_path, what="a snapshot to compare with")
        return snapshot, baseline, f"{snapshot_path} against {baseline_path}"
    committed = committed_snapshot(root / DEFAULT_SNAPSHOT)
    if committed is None:
        raise HandbookInputError(
            f"HEAD:{DEFAULT_SNAPSHOT}",
            "",
            "expected a committed snapshot to compare with, but git has none; name one with --baseline FILE",
        )
    return snapshot, committed, f"{snapshot_path} against HEAD:{DEFAULT_SNAPSHOT}"
