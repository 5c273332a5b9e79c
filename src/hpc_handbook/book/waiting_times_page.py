"""The waiting-times page: the table and plot of how long jobs waited, from the collected statistics.

Figures older than the site (a partition they do not cover, or one that has grown since) are
marked stale where they are shown, with the reason, as `hpc_handbook.site_facts.freshness` finds.
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
from hpc_handbook.data.waiting_times import WaitingTimes, load_waiting_times
from hpc_handbook.site_facts.freshness import WAITING_TIMES_COMMAND as STALE_COMMAND
from hpc_handbook.site_facts.freshness import stale_waiting_times

WAITING_TIMES_COMMAND = "nox -s waiting-times"


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
    from hpc_handbook.waiting_times.stats import format_seconds

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
        if data is not None and data.site not in (None, get_profile(self.env.app).site.short_name):
            data = None  # another site's figures say nothing about this one
        if data is None:
            return [nodes.paragraph(text=f"No waiting times collected yet; run `{WAITING_TIMES_COMMAND}`.")]
        partitions = [p.name for p in get_profile(self.env.app).partitions]
        stale = {
            name: figure.reason
            for figure in stale_waiting_times(vocabulary_of(self.env), data)
            for name in figure.names
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


def setup_waiting_times(app: Sphinx) -> None:
    app.add_directive("waiting-times", WaitingTimesDirective)
