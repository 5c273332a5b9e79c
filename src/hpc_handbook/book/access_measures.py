"""The scorecard's access criteria, measured from the hub's spawn and load figures (`nox -s bench`)."""

from __future__ import annotations

from hpc_handbook.book.evidence import Evidence, Finding, Measure
from hpc_handbook.book.network_text import evidence_text, poor_link
from hpc_handbook.data.service_measurements import ServiceMeasurements
from hpc_handbook.waiting_times.stats import format_seconds

SOURCE = "service measurement"
NOT_MEASURED = "Not yet measured: there are no spawn or load figures for the hub (`nox -s bench`)."
NOT_MEASURED_NETWORK = (
    "Not yet measured: there are no figures from a browser behind a slow link (`nox -s bench`)."
)
#: A wait a user sits through at the log-in page before giving up, by the load run's 95th percentile.
PATIENCE_S = 60


def _when(measured: ServiceMeasurements) -> str:
    return f"(JupyterHub {measured.hub_version}, measured {measured.date} with `nox -s bench`)"


def _spawn_text(measured: ServiceMeasurements) -> str:
    parts = []
    for spawn in measured.spawns:
        if spawn.median_s is None:
            parts.append(f"on `{spawn.where}` none of {spawn.attempts} spawns succeeded")
        else:
            parts.append(
                f"on `{spawn.where}` {format_seconds(spawn.median_s)} ({spawn.succeeded} of {spawn.attempts})"
            )
    return "Median time from the spawn request to a ready server: " + ", ".join(parts) + "."


def _any_platform(evidence: Evidence) -> Finding | str:
    measured = evidence.service
    if measured is None:
        return NOT_MEASURED
    login = measured.spawns[0] if measured.spawns else None
    if login is None or login.succeeded == 0:
        return Finding("no", f"No server started through the hub's web pages {_when(measured)}.", SOURCE)
    links = [link.profile for link in measured.network if link.failure is None]
    reach = (
        f"Measured with Chromium on Linux, also over emulated {' and '.join(links)} links"
        if links
        else "Measured only from the machine the hub runs on"
    )
    return Finding(
        # One browser on one operating system: other systems and browsers are not tried.
        "partly",
        f"Logging in and starting a server takes a web browser's requests alone. {_spawn_text(measured)} "
        f"{reach} {_when(measured)}.",
        SOURCE,
    )


#: Within this multiple of the machine's lower bound, the hub itself adds little to the wait.
NEAR_THE_BOUND = 1.5


def _load_rating(measured: ServiceMeasurements) -> str:
    load, ratio = measured.load, measured.load_ratio
    quick = load.p95_s is not None and (
        load.p95_s <= PATIENCE_S or (ratio is not None and ratio <= NEAR_THE_BOUND)
    )
    if load.success_rate == 1 and quick:
        return "yes"
    return "partly" if load.success_rate >= 0.9 else "no"


def _where(measured: ServiceMeasurements) -> str:
    places = [f"`{place}`" if place != "login" else "the login node" for place in measured.load_places]
    return " and on ".join(places) if places else "the login node"


def _under_load(evidence: Evidence) -> Finding | str:
    measured = evidence.service
    if measured is None:
        return NOT_MEASURED
    load = measured.load
    text = (
        f"{measured.load_accounts} users logged in at once, each starting a server (in turn on "
        f"{_where(measured)}) and running a cell: {load.succeeded} of {load.attempts} succeeded"
    )
    if load.p95_s is not None:
        text += f", 95 % within {format_seconds(load.p95_s)}"
    bound, ratio = measured.load_lower_bound_s, measured.load_ratio
    if bound is not None and ratio is not None:
        text += (
            f", {ratio:.2f} times the least this machine allows ({measured.load_accounts} sessions of "
            f"{measured.session_cpu_s:.1f} s CPU time over {measured.cores} cores: {format_seconds(bound)})"
        )
    if measured.api is not None and measured.api.p95_s is not None:
        api = format_seconds(measured.api.p95_s)
        text += f"; meanwhile the hub's API answered 95 % of its requests within {api}"
    if load.first_failure:
        text += f"; the first failure: {load.first_failure}"
    text += _restarts_text(measured)
    rating = _load_rating(measured)
    if rating == "yes" and not all(restart.survived for restart in measured.restarts):
        rating = "partly"  # users lost work when the hub or its proxy restarted
    return Finding(rating, f"{text} {_when(measured)}.", SOURCE)


def _restarts_text(measured: ServiceMeasurements) -> str:
    """What survived the hub's and the proxy's restarts, with servers on the login node and in a job."""
    parts = []
    for restart in measured.restarts:
        if restart.survived:
            part = f"the {restart.restarted} restarted: {restart.servers} of {restart.servers} servers kept"
            part += " with their Slurm jobs and kernels' variables"
            if restart.cells_while_away:
                part += ", cells ran while it was away"
            if restart.back_s is not None:
                part += f", users back within {format_seconds(restart.back_s)} of its start"
        else:
            part = f"the {restart.restarted} restarted: {restart.failure}"
        parts.append(part)
    return ("; " + "; ".join(parts)) if parts else ""


#: On a poor link, the most a cell's round trip may take for the service to count as usable.
USABLE_CELL_S = 2.0


def _slow_network(evidence: Evidence) -> Finding | str:
    measured = evidence.service
    if measured is None or (not measured.network and not measured.network_skipped):
        return NOT_MEASURED_NETWORK
    if measured.network_skipped:
        return f"Not measured: {measured.network_skipped}."
    poor, cut = poor_link(measured), measured.cut
    usable = (
        poor is not None and poor.cell_round_trip_s is not None and poor.cell_round_trip_s <= USABLE_CELL_S
    )
    kept = cut is not None and cut.nothing_lost
    rating = "yes" if usable and kept else "partly" if usable or kept else "no"
    text = (
        "From a browser behind an emulated link to the hub (its own network namespace, "
        f"with delay, loss and rate per packet): {evidence_text(measured)}"
    )
    return Finding(rating, f"{text} {_when(measured)}.", SOURCE)


ACCESS_MEASURES: dict[str, Measure] = {
    "access-any-platform": _any_platform,
    "access-slow-network": _slow_network,
    "access-under-load": _under_load,
}
