"""How well the spawn form's start forecast matched real starts when `nox -s bench` last measured it.

The bench fills a partition with a job mix, then asks for the forecast as the form does and
submits a job of that size at once, again and again; each job's real start is then set against
what the form would have said. The "Plan your session" and accounting pages read the figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from hpc_handbook.data.files import DataModel, read_json

#: Where the bench writes the figures, relative to the repository root.
FORECAST_ACCURACY = Path("book/data/forecast-accuracy.json")
DATA_FORMAT: Literal[1] = 1
MEASURE_COMMAND = "hpc-handbook forecast-bench"
_HINT = f"re-run `{MEASURE_COMMAND}` (part of `nox -s bench`)"


class ProbeJob(DataModel):
    """One job of the form's size: what the form would have said when it was submitted, and its start.

    Times are seconds after the job's submission; None where the form had no such figure.
    """

    nodes: int
    cpus: int
    walltime: str
    scheduler_s: float | None
    history_median_s: float | None
    range_start_s: float | None
    range_end_s: float | None
    started_s: float
    within_range: bool


class ForecastAccuracy(DataModel):
    format_version: Literal[1] = Field(default=DATA_FORMAT, alias="format")
    generated_by: str = MEASURE_COMMAND
    site: str
    #: The day of the measurement, `YYYY-MM-DD`.
    date: str
    partition: str
    #: Jobs of the mix that kept the partition busy while the probes were submitted.
    load_jobs: int
    probes: list[ProbeJob]
    #: Median of |Slurm's estimate - the real start|, over the probes Slurm gave an estimate for.
    scheduler_median_abs_error_s: float | None
    #: Median of |submission + recent median wait - the real start|.
    history_median_abs_error_s: float | None
    #: How many probes started within the range the form shows (said to the minute).
    within_range: int
    #: The median width of that range: a range that always holds the start but spans an hour says little.
    range_median_width_s: float | None

    @property
    def within_share(self) -> float:
        return self.within_range / len(self.probes) if self.probes else 0.0


def load_forecast_accuracy(path: Path) -> ForecastAccuracy | None:
    """Read the figures; None when there is no such file."""
    return read_json(path, ForecastAccuracy, hint=_HINT)
