"""The doc CI's report for the book: `hpc-handbook examples` writes it, the badges and scorecard read it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from hpc_handbook.data.files import DataModel, read_json, write_json

#: The report's file name inside the report folder (`_build/reports` unless told otherwise).
EXAMPLES_REPORT = "examples.json"
REPORT_FORMAT: Literal[1] = 1
_HINT = "re-run `nox -s examples`"

Status = Literal["passed", "failed", "skipped"]


class CellDifference(DataModel):
    """One cell whose fresh outputs differ from its reference outputs."""

    cell: int
    #: What differs, as the reason says it: `output stream:stdout differs`, `missing output text/plain`.
    summary: str


class ExampleResult(DataModel):
    """The verdict for one example on one kernel."""

    example: str
    kernel: str
    status: Status
    reason: str = ""
    #: The cell that failed (the first that differs); None before the first cell or when nothing failed.
    cell: int | None = None
    #: The unified diff of every differing cell, each headed by its cell's number.
    diff: str = ""
    #: Every cell whose outputs differ, in the notebook's order; empty unless outputs differ.
    differences: list[CellDifference] = Field(default_factory=list)
    page: str = ""
    owner: str = ""
    audience: str = ""
    #: The partition the kernel ran on; None on the login node.
    partition: str | None = None
    #: The Slurm node a doc CI worker ran it on (`--dispatch slurm`); None where the runner itself did.
    node: str | None = None
    seconds: float = 0.0
    startup_seconds: float = 0.0
    #: Kernel start plus cell execution, without shutdown: what the bench's lower bound sums.
    busy_seconds: float = 0.0
    #: True when everything ran and only the outputs differ (refresh may then overwrite them).
    output_mismatch_only: bool = False


class Summary(DataModel):
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def runs(self) -> int:
        return self.passed + self.failed + self.skipped


class ExamplesReport(DataModel):
    format_version: Literal[1] = Field(default=REPORT_FORMAT, alias="format")
    site: str
    #: The day of the run, `YYYY-MM-DD` (UTC).
    date: str
    summary: Summary = Field(default_factory=Summary)
    results: list[ExampleResult] = Field(default_factory=list)


def load_examples_report(path: Path) -> ExamplesReport | None:
    """Read a report; None when there is no such file (no doc CI run yet)."""
    return read_json(path, ExamplesReport, hint=_HINT)


def write_examples_report(path: Path, report: ExamplesReport) -> None:
    write_json(path, report)
