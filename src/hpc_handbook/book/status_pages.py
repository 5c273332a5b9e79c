"""The system status and waiting-times pages: tables (and a plot) from the committed data files.

`hpc-handbook probe` writes `book/data/snapshot.json` and `hpc-handbook waiting-times
collect` writes `book/data/waiting-times.json`; these directives only read them. Each
notes a dependency on its file, so a new snapshot rebuilds exactly the pages that show it.
The waiting-times plot is drawn with matplotlib during the build, from the same JSON as
its table, so no number on the page is typed by hand.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from hpc_handbook.book.generated import choice_argument
from hpc_handbook.book.site_facts import vocabulary_of
from hpc_handbook.book.site_values import get_profile
from hpc_handbook.book.tables import build_table, code, paragraph, read_data
from hpc_handbook.data.snapshot import (
    REGENERATE_COMMAND,
    KernelEntry,
    Snapshot,
    load_snapshot,
    slurm_duration_seconds,
)
from hpc_handbook.data.waiting_times import WaitingTimes, load_waiting_times
from hpc_handbook.node_summary import nodes_text
from hpc_handbook.site_facts.freshness import WAITING_TIMES_COMMAND as STALE_COMMAND
from hpc_handbook.site_facts.freshness import stale_waiting_times

#: Where the command that writes each file is named on the pages.
PROBE_COMMAND = REGENERATE_COMMAND
WAITING_TIMES_COMMAND = "nox -s waiting-times"

# --- System status ----------------------------------------------------------------------


def _start_text(kernel: KernelEntry) -> str:
    start, details = kernel.start, kernel.start_details
    modules = details.get("modules")
    if start == "modules" and modules:
        return "from modules: " + ", ".join(map(str, modules if isinstance(modules, list) else [modules]))
    if start == "slurm":
        partition, walltime = details.get("partition"), details.get("walltime")
        text = f"in a Slurm job on {partition}" if partition else "in a Slurm job"
        return f"{text}, for up to {_walltime(str(walltime))}" if walltime else text
    return {"local": "on the login node", "unknown": "not stated"}.get(start, start)


def _language(kernel: KernelEntry) -> str:
    language = kernel.language
    name = {"python": "Python", "r": "R", "bash": "Bash"}.get(language.lower(), language)
    return f"{name} {kernel.language_version or ''}".strip()


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


def _memory(mb: int | None) -> str:
    if mb is None:
        return "unknown"
    return f"{mb // 1024} GB" if mb % 1024 == 0 else f"{mb / 1024:.1f} GB"


def _walltime(value: str) -> str:
    try:
        seconds = slurm_duration_seconds(value)
    except ValueError:
        return value
    if seconds is None:
        return "no limit"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h" if not rest else f"{hours} h {rest // 60} min"


def partitions_table(snapshot: Snapshot) -> nodes.table:
    rows = [
        [
            _name_cell(name, "(default)" if p.default else ""),
            p.state,
            # Snapshots from before nodes were recorded have only Slurm's count.
            nodes_text(p.nodes) if p.nodes else p.total_nodes,
            "no limit" if p.max_nodes == "UNLIMITED" else p.max_nodes,
            _walltime(p.max_time),
            _memory(p.memory_per_node_mb),
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
    versions = {"slurm": snapshot.versions.slurm, "lmod": snapshot.versions.lmod}
    rows += [[code(tool), version, "scheduler" if tool == "slurm" else "module system"]
             for tool, version in sorted(versions.items()) if version]  # fmt: skip
    return build_table(["Component", "Version", "Kind"], rows, classes=["handbook-status-jupyter"])


def hub_table(snapshot: Snapshot) -> nodes.table | nodes.paragraph:
    hub = snapshot.hub
    if hub is None:
        return nodes.paragraph(text="The probe did not ask a hub: the site profile names none.")
    if hub.version is None:
        return nodes.paragraph(text=f"The hub did not answer the probe: {hub.error}")
    rows: list[list[Any]] = [[code("jupyterhub"), hub.version, "hub"]]
    if hub.spawner:
        # A spawner defined in the hub's own configuration has no package version to report.
        version = hub.spawner_version if hub.spawner_version not in (None, "unknown") else "—"
        rows.append([code(hub.spawner), version, "spawner"])
    rows += [[label, "—", "spawn form field"] for label in hub.form_fields]
    rows += [
        [label, code(value), "spawn form: a place to run"]
        for value, label in ((p.value, p.label) for p in hub.form_places)
    ]
    return build_table(["Component", "Version or value", "Kind"], rows, classes=["handbook-status-hub"])


class SystemStatusDirective(SphinxDirective):
    """Render one part of the committed snapshot, as named in `PARTS`."""

    required_arguments = 1
    has_content = False
    PARTS = ("taken", "kernels", "fingerprints", "partitions", "modules", "jupyter", "hub")

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
        return [jupyter_table(snapshot)]


# --- Waiting times ------------------------------------------------------------------------


def period_text(data: WaitingTimes) -> str:
    return f"{data.period.start[:10]} to {data.period.end[:10]}"


def _sources_text(data: WaitingTimes) -> str:
    names = {"jobcomp/filetxt": "the job-completion log", "sacct": "Slurm accounting"}
    sources = [names.get(s, s) for s in data.sources]
    return " and ".join(sources) or "no records"


def for_profile(data: WaitingTimes, partitions: list[str]) -> WaitingTimes:
    """Keep the profile's partitions, in its order, and count only their jobs.

    The handbook describes the partitions of its profile; records of any other partition
    (or of another centre, when the book is built for another profile) stay off the page.
    """
    kept = {name: data.partitions[name] for name in partitions if name in data.partitions}
    total = sum(entry.all.jobs for entry in kept.values())
    return data.model_copy(update={"partitions": kept, "total_jobs": total})


def _strong(text: str) -> nodes.paragraph:
    return paragraph(nodes.strong(text, text))


def waiting_rows(
    data: WaitingTimes, partitions: list[str], stale: dict[str, str] | None = None
) -> list[list[Any]]:
    """Table rows: one per partition and bucket, then a row for all the partition's jobs.

    A partition whose figures are older than it (`stale`, with the reason) says so in its rows.
    """
    from hpc_handbook.waiting_times import format_seconds

    stale = stale or {}
    rows: list[list[Any]] = []
    for name in partitions:
        entry = data.partitions.get(name)
        if name in stale:
            label = f"{name} (stale: {stale[name]})"
            if entry is None:
                rows.append([label, "any", "any", "—", "not measured", "—"])
                continue
            name = label
        if entry is None:
            rows.append([name, "any", "any", "0", "no jobs in this period", "—"])
            continue
        for bucket in entry.buckets:
            rows.append(
                [
                    name, bucket.nodes, bucket.walltime, str(bucket.jobs),
                    format_seconds(bucket.median_s), format_seconds(bucket.p90_s),
                ]
            )  # fmt: skip
        overall = entry.all
        rows.append(
            [_strong(name), _strong("any"), _strong("any"), _strong(str(overall.jobs)),
             _strong(format_seconds(overall.median_s)), _strong(format_seconds(overall.p90_s))]
        )  # fmt: skip
    return rows


def _unit(largest: float) -> tuple[str, float]:
    if largest < 120:
        return "seconds", 1.0
    if largest < 2 * 3600:
        return "minutes", 60.0
    return "hours", 3600.0


def draw_waiting_times(data: WaitingTimes, target: Path) -> None:
    """Draw median and 90th percentile waits per partition (in the data's order) and bucket into a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels: list[str] = []
    medians: list[float] = []
    p90s: list[float] = []
    counts: list[int] = []
    for name, entry in data.partitions.items():
        for bucket in entry.buckets:
            labels.append(f"{name} · {bucket.nodes} · {bucket.walltime}")
            medians.append(bucket.median_s)
            p90s.append(bucket.p90_s)
            counts.append(bucket.jobs)
    unit, scale = _unit(max(p90s, default=0))
    height = 1.8 + 0.5 * max(len(labels), 1)
    figure = Figure(figsize=(8, height), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(labels)))
    axes.barh([p + 0.2 for p in positions], [m / scale for m in medians], height=0.4, label="median",
              color="#2b6cb0")  # fmt: skip
    axes.barh([p - 0.2 for p in positions], [v / scale for v in p90s], height=0.4,
              label="90% waited at most", color="#90cdf4")  # fmt: skip
    for position, value, count in zip(positions, p90s, counts, strict=True):
        axes.annotate(f"{count} job{'s' if count != 1 else ''}", (max(value / scale, 0), position - 0.2),
                      xytext=(4, 0), textcoords="offset points", va="center", fontsize=9)  # fmt: skip
    axes.set_yticks(positions, labels, fontsize=9)
    axes.invert_yaxis()
    axes.set_xlabel(f"waiting time ({unit})", fontsize=10)
    axes.margins(x=0.18)
    figure.legend(loc="outside lower center", ncols=2, fontsize=9, frameon=False)
    axes.set_title(
        f"Queue waiting time by partition and job size\n"
        f"jobs that started {period_text(data)}, {data.total_jobs} jobs in all",
        fontsize=10,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, metadata={"Software": None})


class WaitingTimesDirective(SphinxDirective):
    """Render the waiting-times `table` or `plot` from the collected JSON."""

    required_arguments = 1
    option_spec = {"alt": directives.unchanged}  # noqa: RUF012 (docutils' own attribute)

    def run(self) -> list[nodes.Node]:
        part = choice_argument(self, ("table", "plot", "period"), subtype="waiting_times")
        if part is None:
            return []
        data = read_data(self, "handbook_waiting_times", load_waiting_times, WAITING_TIMES_COMMAND)
        if data is None:
            return [nodes.paragraph(text=f"No waiting times collected yet; run `{WAITING_TIMES_COMMAND}`.")]
        partitions = [p.name for p in get_profile(self.env.app).partitions]
        stale = {
            figure.subject.removeprefix("partition "): figure.reason
            for figure in stale_waiting_times(vocabulary_of(self.env), data)
        }
        data = for_profile(data, partitions)
        summary = (
            f"Jobs that started {period_text(data)}: {data.total_jobs} jobs, from {_sources_text(data)}."
        )
        if part == "period":
            note = nodes.note()
            note += paragraph(
                summary + " Generated by ", code(WAITING_TIMES_COMMAND), " from ",
                code(self.config.handbook_waiting_times), "; do not edit.",
            )  # fmt: skip
            if not stale:
                return [note]
            warning = nodes.warning()
            listed = "; ".join(f"{name}: {reason}" for name, reason in stale.items())
            warning += paragraph(
                f"Stale figures, older than the site: {listed}. Measured again by ",
                code(STALE_COMMAND), ".",
            )  # fmt: skip
            return [warning, note]
        if part == "table":
            header = ["Partition", "Nodes", "Requested walltime", "Jobs", "Median wait", "90% waited at most"]
            title = f"Waiting times of jobs that started {period_text(data)} ({data.total_jobs} jobs)."
            rows = waiting_rows(data, partitions, stale)
            return [build_table(header, rows, classes=["handbook-waiting-times"], title=title)]
        if not any(entry.buckets for entry in data.partitions.values()):
            return [
                nodes.paragraph(text=f"No plot: no jobs of these partitions started {period_text(data)}.")
            ]
        return [self._figure(data, summary)]

    def _figure(self, data: WaitingTimes, summary: str) -> nodes.figure:
        # Drawn beside the doctrees, outside the sources; Sphinx copies it into _images.
        target = Path(self.env.app.doctreedir).parent / "handbook-images" / "waiting-times.png"
        draw_waiting_times(data, target)
        document_dir = Path(self.env.doc2path(self.env.docname)).parent
        uri = Path(os.path.relpath(target, document_dir)).as_posix()
        alt = self.options.get("alt") or "Bar chart of median and 90th percentile queue waiting times"
        figure = nodes.figure(classes=["handbook-waiting-times-plot"])
        figure += nodes.image(uri=uri, alt=alt)
        figure += nodes.caption(summary, summary)
        return figure


def setup_status_pages(app: Sphinx) -> None:
    app.add_directive("system-status", SystemStatusDirective)
    app.add_directive("waiting-times", WaitingTimesDirective)
