"""The doc CI's report for the book: `hpc-handbook examples` writes it, the badges and scorecard read it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
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


class KeptFolder(DataModel):
    """What the report folder keeps of a failing example's working folder, for diagnosis."""

    #: Relative to the report folder: `failed/<example>-<kernel>`.
    path: str
    files: int = 0
    bytes: int = 0
    #: Files and folders not kept: virtual environments, Dask's spill folders, large files.
    left_out: int = 0


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
    #: Where on its page the prose check found each statement that contradicts the site
    #: (`line 12`, `cell 4, line 3`); empty for an example's own run.
    locations: list[str] = Field(default_factory=list)
    #: Why a run for a change (`--changed-since`) picked the example; empty in a whole run.
    picked_because: str = ""
    page: str = ""
    owner: str = ""
    audience: str = ""
    #: The partition the kernel ran on; None on the login node.
    partition: str | None = None
    #: The JupyterLab environment of the server it ran in, when not the spawn form's default.
    environment: str | None = None
    #: The Slurm node a doc CI worker ran it on (`--dispatch slurm`); None where the runner itself did.
    node: str | None = None
    seconds: float = 0.0
    startup_seconds: float = 0.0
    #: Kernel start plus cell execution, without shutdown: what the bench's lower bound sums.
    busy_seconds: float = 0.0
    #: True when everything ran and only the outputs differ (refresh may then overwrite them).
    output_mismatch_only: bool = False
    #: A failing example's working folder, as far as the report folder keeps it.
    kept: KeptFolder | None = None


class Cleanup(DataModel):
    """What the run found and left where it worked: the room it had, what it removed, what went wrong."""

    #: Where the run worked: the doc-CI account's home, or this machine's temporary folder.
    where: str = ""
    free_bytes: int | None = None
    #: What the account's quota still allowed; None where no quota tool answered.
    quota_left_bytes: int | None = None
    needed_bytes: int = 0
    #: What the run's working folders held at its end, all removed.
    folder_bytes: int = 0
    #: Everything removed: the run's folders, and what else appeared in the home during the run.
    removed_bytes: int = 0
    #: What appeared in the home during the run and was removed (the first ones), and how much.
    removed: list[str] = Field(default_factory=list)
    removed_count: int = 0
    #: Files that changed during the run and were put back from their copies (the first ones).
    restored: list[str] = Field(default_factory=list)
    restored_count: int = 0
    #: What an earlier run that was killed left, and this run put right.
    earlier: list[str] = Field(default_factory=list)
    #: Every removal or restoration that failed; a run with any fails.
    problems: list[str] = Field(default_factory=list)


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
    #: Absent in reports of runs before the doc CI checked its room and cleaned up after itself.
    cleanup: Cleanup | None = None


def load_examples_report(path: Path) -> ExamplesReport | None:
    """Read a report; None when there is no such file (no doc CI run yet)."""
    return read_json(path, ExamplesReport, hint=_HINT)


def write_examples_report(path: Path, report: ExamplesReport) -> None:
    write_json(path, report)


def junit_xml(results: Sequence[ExampleResult], *, site: str) -> str:
    """The verdicts as JUnit XML, so a CI system shows each failing example or page as a failed test."""
    suite = ET.Element(
        "testsuite",
        name=f"handbook examples at {site}",
        tests=str(len(results)),
        failures=str(sum(r.status == "failed" for r in results)),
        skipped=str(sum(r.status == "skipped" for r in results)),
        errors="0",
        time=f"{sum(r.seconds for r in results):.2f}",
    )
    for result in sorted(results, key=lambda r: (r.example, r.kernel, r.environment or "")):
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"examples.{result.example}",
            name=result.kernel if result.environment is None else f"{result.kernel} in {result.environment}",
            time=f"{result.seconds:.2f}",
        )
        if result.status == "failed":
            failure = ET.SubElement(
                case, "failure", message=result.reason.splitlines()[0] if result.reason else "failed"
            )
            failure.text = "\n".join(filter(None, [result.reason, result.diff]))
        elif result.status == "skipped":
            ET.SubElement(case, "skipped", message=result.reason)
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
