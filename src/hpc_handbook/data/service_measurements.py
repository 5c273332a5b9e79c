"""How the hub performed when `nox -s bench` last measured it: spawn times and a load run.

The bench writes it; the scorecard's access criteria read it instead of the administrators'
self-assessment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from hpc_handbook.data.files import DataModel, read_json
from hpc_handbook.data.measured_on import MeasuredOn
from hpc_handbook.data.snapshot import OWN_ENVIRONMENT

#: Where the bench writes the measurements, relative to the repository root.
SERVICE_MEASUREMENTS = Path("book/data/service-measurements.json")
DATA_FORMAT: Literal[1] = 1
MEASURE_COMMAND = "hpc-handbook service-bench"
_HINT = f"re-run `{MEASURE_COMMAND}` (part of `nox -s bench`)"


class Spread(DataModel):
    """Timings of repeated attempts: how many ran, how many succeeded, median and 95th percentile."""

    attempts: int
    succeeded: int
    median_s: float | None
    p95_s: float | None
    #: Why the first failed attempt failed; None when none failed.
    first_failure: str | None = None

    @property
    def success_rate(self) -> float:
        return self.succeeded / self.attempts if self.attempts else 0.0


class SpawnTimes(Spread):
    """From the spawn request to a server that answers, on one place and environment of the spawn form."""

    place: str
    #: The JupyterLab environment, by the form's value (`own`: a start-up script); None: the default.
    environment: str | None = None

    @property
    def where(self) -> str:
        """`login`; `login, environment 2026-06` for one other than the default; `login, own start-up
        script` for the user's own."""
        if self.environment is None:
            return self.place
        if self.environment == OWN_ENVIRONMENT:
            return f"{self.place}, own start-up script"
        return f"{self.place}, environment {self.environment}"


class RestartFigures(DataModel):
    """The hub, or its proxy, restarted while one account's servers ran: on the login node and in a job."""

    restarted: Literal["hub", "proxy"]
    servers: int
    #: Servers the hub lists as ready afterwards, the same processes and Slurm jobs as before.
    servers_kept: int
    #: Kernels whose variable held its value afterwards (a kernel per server).
    kernels_kept: int
    #: Cells the kernels ran while the restarted daemon was away (the hub only: users keep working).
    cells_while_away: int | None = None
    #: From starting the daemon again until users reach every server again.
    back_s: float | None = None
    #: What went wrong, in the hub's or the kernel's words; None when all survived.
    failure: str | None = None

    @property
    def survived(self) -> bool:
        return self.failure is None and self.servers_kept == self.servers == self.kernels_kept


class NetworkFigures(DataModel):
    """One user's way in from a browser behind an emulated link (`network_profiles.yml`), timed."""

    profile: str
    description: str
    round_trip_ms: float
    loss_percent: float
    rate_mbit: float
    #: The login page loaded, the password sent, the hub's next page loaded.
    login_s: float | None = None
    #: The spawn form sent (the login node) until JupyterLab's page has loaded.
    spawn_s: float | None = None
    #: From JupyterLab's page to its file browser listing the user's files.
    lab_ready_s: float | None = None
    #: The same, reloaded: the browser has JupyterLab's scripts in its cache.
    lab_again_s: float | None = None
    #: A cell run (Shift+Enter) until its output shows.
    cell_round_trip_s: float | None = None
    #: Runs (Shift+Enter) JupyterLab dropped without a word as the notebook opened, run again.
    runs_dropped: int = 0
    #: The step that failed, in Playwright's or the hub's words; None when every step ended.
    failure: str | None = None


class CutFigures(DataModel):
    """The link cut while a cell runs, and restored: what the user gets back, and what was lost."""

    profile: str
    cut_s: float
    #: From the link's return until the running cell's output shows in the page.
    reconnect_s: float | None = None
    cells: int = 0
    #: Cells whose output is missing from the saved notebook.
    cells_lost: int = 0
    edits: int = 0
    #: What the user typed during the cut that is missing from the saved notebook.
    edits_lost: int = 0
    #: The kernel kept its variables: a cell after the cut printed what they held.
    kernel_intact: bool = False
    saved: bool = False
    #: Runs (Shift+Enter) JupyterLab dropped without a word as the notebook opened, run again.
    runs_dropped: int = 0
    #: What JupyterLab's dialogs said meanwhile.
    dialogs: list[str] = Field(default_factory=list)
    failure: str | None = None

    @property
    def nothing_lost(self) -> bool:
        return (
            self.failure is None
            and self.saved
            and self.kernel_intact
            and self.cells_lost == 0
            and self.edits_lost == 0
            and self.reconnect_s is not None
        )


class ServiceMeasurements(DataModel):
    format_version: Literal[1] = Field(default=DATA_FORMAT, alias="format")
    generated_by: str = MEASURE_COMMAND
    site: str
    #: The day of the measurement, `YYYY-MM-DD`.
    date: str
    hub_version: str
    #: One entry per place the spawn form offers that was measured: the login node first.
    spawns: list[SpawnTimes]
    #: Accounts that logged in at once, each starting a server and running one cell.
    load_accounts: int
    #: The load run: from logging in to the cell's output, for each account.
    load: Spread
    #: Where the load run's servers ran, in turn: the login node, then a partition.
    load_places: list[str] = Field(default_factory=list)
    #: The CPU time one account's session cost the machine alone (its server, kernel and cell, Slurm's
    #: job steps, the spawner's commands, the stop; not the hub's own process nor the machine's
    #: background), each place's mean; with the machine's cores, the load run cannot end sooner
    #: than the lower bound below.
    session_cpu_s: float | None = None
    #: The CPU time the hub's own process used during the load run.
    hub_cpu_s: float | None = None
    cores: int | None = None
    #: The hub's API under the storm: a simple request every half second, from the first login to
    #: the last stopped server.
    api: Spread | None = None

    @property
    def load_lower_bound_s(self) -> float | None:
        """The least the last of the load run's accounts can wait: all sessions' CPU time over the cores."""
        if self.session_cpu_s is None or not self.cores:
            return None
        return self.session_cpu_s * self.load_accounts / self.cores

    @property
    def load_ratio(self) -> float | None:
        """The load run's 95th percentile over its lower bound: 1 is the machine's best."""
        bound = self.load_lower_bound_s
        if bound is None or self.load.p95_s is None or bound <= 0:
            return None
        return self.load.p95_s / bound

    #: The hub restarted, then the proxy, with servers running; empty in older files.
    restarts: list[RestartFigures] = Field(default_factory=list)

    #: From a browser behind each emulated link; empty in older files or where links cannot be set up.
    network: list[NetworkFigures] = Field(default_factory=list)
    #: A link cut while a cell ran; None when not measured.
    cut: CutFigures | None = None
    #: Why the network was not measured on the machine (no TUN devices, no Chromium, ...).
    network_skipped: str | None = None

    #: The places the spawn form offered when measured; None in older files, marked stale.
    measured_on: MeasuredOn | None = None


def load_service_measurements(path: Path) -> ServiceMeasurements | None:
    """Read the measurements; None when there is no such file."""
    return read_json(path, ServiceMeasurements, hint=_HINT)
