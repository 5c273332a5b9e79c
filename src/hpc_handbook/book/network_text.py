"""What the pages say about the service over slow and unreliable connections, from the network bench.

The figures are `book/data/service-measurements.json`'s `network` and `cut` (`nox -s bench`,
`reference_site/network_bench.py`); the wording is `data/network.yml`. The log-in page's table,
the limitations page's entry and the scorecard's evidence all read them here.
"""

from __future__ import annotations

from typing import Any

from hpc_handbook.book.generated import wording
from hpc_handbook.data.service_measurements import CutFigures, NetworkFigures, ServiceMeasurements
from hpc_handbook.waiting_times.stats import format_seconds

#: The profile the pages describe for a reader on a poor connection.
POOR = "poor"


def texts() -> dict[str, Any]:
    return wording("network.yml")


def seconds(value: float | None) -> str:
    return "-" if value is None else format_seconds(value) if value >= 2 else f"{value:.1f} s"


def link_values(link: NetworkFigures) -> dict[str, str]:
    """A measured link's figures as the wording names them."""
    steps = [step for step in (link.login_s, link.spawn_s, link.lab_ready_s) if step is not None]
    return {
        "profile": link.profile,
        "description": link.description,
        "round_trip": f"{link.round_trip_ms:g} ms",
        "loss": f"{link.loss_percent:g} %",
        "rate": f"{link.rate_mbit:g} Mbit/s",
        "login": seconds(link.login_s),
        "spawn": seconds(link.spawn_s),
        "lab": seconds(link.lab_ready_s),
        "cell": seconds(link.cell_round_trip_s),
        "again": seconds(link.lab_again_s),
        "first_start": seconds(sum(steps)) if len(steps) == 3 else "-",
    }


def poor_link(measured: ServiceMeasurements | None) -> NetworkFigures | None:
    """The poor link's figures when every step of it ended; None otherwise."""
    if measured is None:
        return None
    link = next((link for link in measured.network if link.profile == POOR), None)
    return link if link is not None and link.failure is None else None


def cut_values(cut: CutFigures) -> dict[str, str]:
    return {
        "cut": seconds(cut.cut_s),
        "reconnect": seconds(cut.reconnect_s),
        "cells": str(cut.cells),
        "cells_lost": str(cut.cells_lost),
        "edits": str(cut.edits),
        "edits_lost": str(cut.edits_lost),
        "kernel": "intact" if cut.kernel_intact else "lost",
    }


def cut_text(cut: CutFigures) -> str:
    """What a reader should expect when the connection drops while a cell runs."""
    if cut.nothing_lost:
        return str(texts()["cut_kept"]).format(**cut_values(cut))
    lost = []
    if cut.failure:
        lost.append(cut.failure)
    if cut.reconnect_s is None:
        lost.append("the running cell's output never arrived")
    if cut.cells_lost:
        lost.append(f"{cut.cells_lost} of {cut.cells} cells' output missing from the saved notebook")
    if cut.edits_lost:
        lost.append("what was typed during the cut missing from the saved notebook")
    if not cut.kernel_intact:
        lost.append("the kernel had lost its variables")
    return str(texts()["cut_lost"]).format(cut=seconds(cut.cut_s), lost="; ".join(lost))


def runs_dropped_text(measured: ServiceMeasurements) -> str | None:
    """Advice when JupyterLab dropped a run in any measurement; None when it never did."""
    runs = sum(link.runs_dropped for link in measured.network)
    runs += measured.cut.runs_dropped if measured.cut is not None else 0
    if not runs:
        return None
    return str(texts()["runs_dropped"]).format(runs="once" if runs == 1 else f"{runs} times")


def evidence_text(measured: ServiceMeasurements) -> str:
    """The scorecard's evidence: every link's steps, then the cut."""
    words = texts()["evidence"]
    parts = []
    for link in measured.network:
        part = str(words["link"]).format(**link_values(link))
        parts.append(part + (f" (failed: {link.failure})" if link.failure else ""))
    if measured.cut is not None:
        parts.append(str(words["cut"]).format(**cut_values(measured.cut)))
    return "; ".join(parts)
