"""Queue waiting-time statistics: `hpc-handbook waiting-times collect` writes them, the book reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from hpc_handbook.data.files import DataModel, read_json, write_json
from hpc_handbook.data.measured_on import MeasuredOn

#: Where the collected statistics live, relative to the repository root.
DEFAULT_OUTPUT = Path("book/data/waiting-times.json")
DATA_FORMAT: Literal[1] = 1
COLLECT_COMMAND = "hpc-handbook waiting-times collect"
_HINT = f"re-run `{COLLECT_COMMAND}`"


class Figures(DataModel):
    """The waits of some jobs: how many, the median and the 90th percentile, in seconds."""

    jobs: int
    median_s: float
    p90_s: float


class Bucket(Figures):
    """The figures of one partition's jobs of one size: a node-count and a walltime bucket."""

    nodes: str
    walltime: str


class PartitionWaits(DataModel):
    all: Figures
    buckets: list[Bucket] = Field(default_factory=list)


class Period(DataModel):
    """When the counted jobs started: ISO times to the minute, the end excluded."""

    start: str
    end: str


class WaitingTimes(DataModel):
    format_version: Literal[1] = Field(default=DATA_FORMAT, alias="format")
    generated_by: str = COLLECT_COMMAND
    #: The site whose scheduler the figures come from (its short name); None in older files.
    site: str | None = None
    period: Period
    #: Where the records came from: `jobcomp/filetxt`, `sacct`.
    sources: list[str] = Field(default_factory=list)
    node_buckets: list[str] = Field(default_factory=list)
    walltime_buckets: list[str] = Field(default_factory=list)
    total_jobs: int
    partitions: dict[str, PartitionWaits]
    #: The partitions and their node counts when the figures were collected; None in older files,
    #: which the book therefore marks as stale.
    measured_on: MeasuredOn | None = None


def load_waiting_times(path: Path) -> WaitingTimes | None:
    """Read the statistics; None when there is no such file."""
    return read_json(path, WaitingTimes, hint=_HINT)


def write_waiting_times(path: Path, data: WaitingTimes) -> None:
    write_json(path, data)
