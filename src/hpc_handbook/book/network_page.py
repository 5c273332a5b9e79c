"""`{service-network}`: the service over slow and unreliable connections, as the network bench measured it.

The log-in page shows it to readers: a table of the links measured (log in, start a server,
JupyterLab ready, a cell's round trip, JupyterLab again), what to expect on a poor connection
and what happened when the connection dropped while a cell ran. Nothing of it is typed by hand:
the figures are `book/data/service-measurements.json`'s, the wording `data/network.yml`'s.
"""

from __future__ import annotations

from sphinx.application import Sphinx

from hpc_handbook.book.generated import GeneratedMyST, list_table
from hpc_handbook.book.network_text import (
    cut_text,
    link_values,
    poor_link,
    runs_dropped_text,
    seconds,
    texts,
)
from hpc_handbook.book.tables import read_data
from hpc_handbook.data.service_measurements import ServiceMeasurements, load_service_measurements
from hpc_handbook.profile import Profile

BENCH_COMMAND = "nox -s bench"


def network_markdown(measured: ServiceMeasurements | None) -> list[str]:
    """The table, the advice for a poor connection and the cut, in MyST."""
    words = texts()
    table = words["table"]
    if measured is None or (not measured.network and not measured.network_skipped):
        return [table["not_measured"]]
    if measured.network_skipped:
        return [str(table["skipped"]).format(reason=measured.network_skipped)]
    rows = []
    for link in measured.network:
        values = link_values(link)
        steps = [seconds(value) for value in (link.login_s, link.spawn_s, link.lab_ready_s)]
        steps += [seconds(link.cell_round_trip_s), seconds(link.lab_again_s)]
        if link.failure:
            reached = [step for step in steps if step != "-"]
            steps = [*reached, str(table["failed"]).format(failure=link.failure), "", "", "", ""]
        rows.append([str(table["connection"]).format(**values), *steps[:5]])
    lines = [f"**{str(table['title']).format(date=measured.date)}**", ""]
    lines += list_table(table["header"], rows, css="handbook-network")
    poor = poor_link(measured)
    if poor is not None:
        lines += ["", str(words["poor"]).format(**link_values(poor))]
    if measured.cut is not None:
        lines += ["", cut_text(measured.cut)]
    dropped = runs_dropped_text(measured)
    if dropped is not None:
        lines += ["", dropped]
    return lines


class NetworkDirective(GeneratedMyST):
    """The service over the measured links, for a reader who wonders about a slow connection."""

    container_class = "handbook-network"

    def markdown(self, profile: Profile) -> list[str]:
        measured = read_data(self, "handbook_service_measurements", load_service_measurements, BENCH_COMMAND)
        if measured is not None and measured.site != profile.site.short_name:
            measured = None  # another site's figures say nothing about this one
        return network_markdown(measured)


def setup_network_page(app: Sphinx) -> None:
    app.add_directive("service-network", NetworkDirective)
