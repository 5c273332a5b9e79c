"""The system status and waiting-times pages: tables (and a plot) from the committed data files.

`hpc-handbook probe` writes `book/data/snapshot.json` and `hpc-handbook waiting-times
collect` writes `book/data/waiting-times.json`; these directives only read them. Each
notes a dependency on its file, so a new snapshot rebuilds exactly the pages that show it.
The waiting-times plot is drawn with matplotlib during the build, from the same JSON as
its table, so no number on the page is typed by hand.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from hpc_handbook.book.generated import choice_argument
from hpc_handbook.book.site_values import get_profile
from hpc_handbook.book.tables import build_table, code, paragraph, read_data
from hpc_handbook.data.snapshot import (
    REGENERATE_COMMAND,
    KernelEntry,
    NodeEntry,
    Snapshot,
    load_snapshot,
)
from hpc_handbook.site_facts.formats import language_name, memory_text, walltime_text
from hpc_handbook.site_facts.nodes import nodes_text

#: Where the command that writes each file is named on the pages.
PROBE_COMMAND = REGENERATE_COMMAND

# --- System status ----------------------------------------------------------------------


def _start_text(kernel: KernelEntry) -> str:
    start, details = kernel.start, kernel.start_details
    modules = details.get("modules")
    if start == "modules" and modules:
        return "from modules: " + ", ".join(map(str, modules if isinstance(modules, list) else [modules]))
    if start == "slurm":
        partition, walltime = details.get("partition"), details.get("walltime")
        text = f"in a Slurm job on {partition}" if partition else "in a Slurm job"
        return f"{text}, for up to {walltime_text(str(walltime))}" if walltime else text
    if start == "container":
        image = details.get("image")
        return f"in the container image {image}, where your server runs" if image else "in a container"
    # A local kernel is a child of the user's server: the login node, or the server's own job.
    return {"local": "where your server runs", "unknown": "not stated"}.get(start, start)


def _language(kernel: KernelEntry) -> str:
    return f"{language_name(kernel.language)} {kernel.language_version or ''}".strip()


def _name_cell(name: str, subtitle: str = "") -> nodes.paragraph:
    cell = paragraph(code(name))
    if subtitle:
        cell += nodes.inline("", f" {subtitle}", classes=["handbook-status-subtitle"])
    return cell


def kernels_table(snapshot: Snapshot) -> nodes.table:
    """One row per kernelspec; a probe failure shows in the last column, so it cannot be missed."""
    kernels = sorted(snapshot.kernels.items())
    failed = any(k.error for _, k in kernels)
    rows = []
    for name, kernel in kernels:
        packages = ", ".join(f"{p} {v or '(missing)'}" for p, v in sorted(kernel.packages.items()))
        row: list[Any] = [
            _name_cell(name, f"({kernel.display_name})" if kernel.display_name else ""),
            _language(kernel) if not kernel.error else "—",
            packages or "—",
            _start_text(kernel),
        ]
        if failed:
            row.append(f"did not answer: {kernel.error}" if kernel.error else "answered")
        rows.append(row)
    header = ["Kernel", "Language", "Key packages", "Runs", *(["Probe"] if failed else [])]
    return build_table(header, rows, classes=["handbook-status-kernels"])


def fingerprints_table(snapshot: Snapshot) -> nodes.table:
    rows = [[code(name), code(k.fingerprint)] for name, k in sorted(snapshot.kernels.items())]
    return build_table(["Kernel", "Fingerprint"], rows, classes=["handbook-status-fingerprints"])


def _node_offers(entries: dict[str, NodeEntry]) -> str:
    """What each node offers (CPUs, memory, GPUs, features), once per kind of node."""
    kinds = sorted({(n.cpus, n.memory_mb, n.gpus, tuple(n.features)) for n in entries.values()}, reverse=True)
    parts = []
    for cpus, memory_mb, gpus, features in kinds:
        text = f"{cpus} CPUs, {memory_text(memory_mb)}" + (f", {gpus} GPUs" if gpus else "")
        text += f", features {', '.join(features)}" if features else ", no features"
        parts.append(text)
    return ("each: " if len(parts) == 1 else "nodes of several kinds: ") + "; ".join(parts)


def partitions_table(snapshot: Snapshot) -> nodes.table:
    rows = [
        [
            _name_cell(name, "(default)" if p.default else ""),
            p.state,
            # Snapshots from before nodes were recorded have only Slurm's count.
            f"{nodes_text(p.nodes)} ({_node_offers(p.nodes)})" if p.nodes else p.total_nodes,
            "no limit" if p.max_nodes == "UNLIMITED" else p.max_nodes,
            walltime_text(p.max_time),
            memory_text(p.memory_per_node_mb),
            p.gpus_per_node,
        ]
        for name, p in sorted(snapshot.partitions.items())
    ]
    header = [
        "Partition",
        "State",
        "Nodes and their state",
        "Max nodes per job",
        "Max walltime",
        "Memory per node",
        "GPUs per node",
    ]
    return build_table(header, rows, classes=["handbook-status-partitions"])


def modules_table(snapshot: Snapshot, relied_on: list[str]) -> nodes.table:
    rows = []
    for name, module in sorted(snapshot.modules.available.items()):
        used = [v for v in module.versions if f"{name}/{v}" in relied_on or name in relied_on]
        rows.append(
            [
                code(name),
                ", ".join(module.versions),
                module.default or "—",
                ", ".join(f"{name}/{v}" for v in used) or "—",
            ]
        )
    header = ["Module", "Versions", "Default", "Used by this handbook"]
    return build_table(header, rows, classes=["handbook-status-modules"])


def jupyter_table(snapshot: Snapshot) -> nodes.table:
    jupyter = snapshot.jupyter
    rows: list[list[Any]] = [[code(n), v, "package"] for n, v in sorted(jupyter.packages.items())]
    for extensions, kind in (
        (jupyter.server_extensions, "server extension"),
        (jupyter.lab_extensions, "JupyterLab extension"),
    ):
        for name, info in sorted(extensions.items()):
            state = "" if info.enabled else " (disabled)"
            rows.append([code(name), info.version or "—", kind + state])
    rows += [[code(app), "—", "server-proxy application (Launcher tile)"] for app in jupyter.proxy_apps]
    versions = {"slurm": snapshot.versions.slurm, "lmod": snapshot.versions.lmod}
    rows += [[code(tool), version, "scheduler" if tool == "slurm" else "module system"]
             for tool, version in sorted(versions.items()) if version]  # fmt: skip
    # Where it was read, so a reader knows whether it is what their own server has.
    title = (
        "As a user's own server, started through the hub, reported it."
        if jupyter.source == "users-server"
        else "As the Jupyter installation beside the probe reported it."
    )
    return build_table(
        ["Component", "Version", "Kind"], rows, classes=["handbook-status-jupyter"], title=title
    )


def hub_table(snapshot: Snapshot) -> nodes.table | nodes.paragraph:
    hub = snapshot.hub
    if hub is None:
        return nodes.paragraph(text="The probe did not ask a hub: the site profile names none.")
    if hub.version is None:
        return nodes.paragraph(text=f"The hub did not answer the probe: {hub.error}")
    rows: list[list[Any]] = [[code("jupyterhub"), hub.version, "hub"]]
    if hub.spawner:
        # The spawner's module reports the packages that start servers; an older one reported none.
        version = hub.spawner_version if hub.spawner_version not in (None, "unknown") else "—"
        rows.append([code(hub.spawner), version, "spawner"])
    rows += [[label, "—", "spawn form field"] for label in hub.form_fields]
    rows += [
        [label, code(value), "spawn form: a place to run"]
        for value, label in ((p.value, p.label) for p in hub.form_places)
    ]
    rows += [
        [label, code(value), "spawn form: an environment"]
        for value, label in ((e.value, e.label) for e in hub.form_environments)
    ]
    return build_table(["Component", "Version or value", "Kind"], rows, classes=["handbook-status-hub"])


def environments_table(snapshot: Snapshot) -> nodes.table | nodes.paragraph:
    """Each JupyterLab environment of the spawn form, as a server started in it reported itself."""
    hub = snapshot.hub
    if hub is None or not hub.form_environments:
        return nodes.paragraph(text="The spawn form offers one JupyterLab environment; see the table above.")
    rows: list[list[Any]] = []
    for choice in hub.form_environments:
        jupyter = hub.environments.get(choice.value)
        if jupyter is None:
            rows.append([code(choice.value), choice.label, "your own", "what you install"])
            continue
        lab = jupyter.packages.get("jupyterlab", "—")
        extensions = (
            ", ".join(sorted(name for name, e in jupyter.lab_extensions.items() if e.enabled)) or "none"
        )
        rows.append([code(choice.value), choice.label, lab, extensions])
    header = ["Environment", "On the form", "JupyterLab", "Extensions"]
    return build_table(header, rows, classes=["handbook-status-environments"])


class SystemStatusDirective(SphinxDirective):
    """Render one part of the committed snapshot, as named in `PARTS`."""

    required_arguments = 1
    has_content = False
    PARTS = ("taken", "kernels", "fingerprints", "partitions", "modules", "jupyter", "hub", "environments")

    def run(self) -> list[nodes.Node]:
        part = choice_argument(self, self.PARTS, subtype="status")
        if part is None:
            return []
        snapshot = read_data(self, "handbook_snapshot", load_snapshot, PROBE_COMMAND)
        if snapshot is not None and snapshot.site != get_profile(self.env.app).site.short_name:
            # Another site's snapshot would describe systems this site's readers do not have.
            snapshot = None
        if snapshot is None:
            if part != "taken":
                return []
            return [
                nodes.paragraph(
                    text=f"This site has not been probed yet; run `{PROBE_COMMAND}` and commit the snapshot."
                )
            ]
        if part == "taken":
            note = nodes.note()
            note += paragraph(
                "Generated from ", code(self.config.handbook_snapshot), " by ", code(PROBE_COMMAND),
                f", which probed the site on {snapshot.taken.isoformat()}. "
                "Do not edit these tables: re-run the command and commit the snapshot.",
            )  # fmt: skip
            return [note]
        if part == "kernels":
            return [kernels_table(snapshot)]
        if part == "fingerprints":
            return [fingerprints_table(snapshot)]
        if part == "partitions":
            return [partitions_table(snapshot)]
        if part == "modules":
            profile = get_profile(self.env.app)
            relied_on = list(profile.modules.relied_on) + [m for k in profile.kernels for m in k.modules]
            return [modules_table(snapshot, relied_on)]
        if part == "hub":
            return [hub_table(snapshot)]
        if part == "environments":
            return [environments_table(snapshot)]
        return [jupyter_table(snapshot)]


# --- Waiting times ------------------------------------------------------------------------


def setup_status_pages(app: Sphinx) -> None:
    app.add_directive("system-status", SystemStatusDirective)
