"""What the doc CI found when it followed every example page's "Open on the hub" link."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from hpc_handbook.data.examples_report import Cleanup
from hpc_handbook.data.files import DataModel, parse_json, read_data_text, write_json

#: The report's file name inside the report folder.
LAUNCH_LINKS_REPORT = "launch-links.json"


class LaunchLinkResult(DataModel):
    example: str
    #: The page the link is on, and who answers for it.
    page: str
    owner: str
    #: The link as the page shows it.
    url: str
    status: Literal["passed", "failed"]
    #: Why it failed.
    reason: str = ""
    #: Why the example will not run where the link opens it, as its page says; empty when it will.
    caveat: str = ""
    #: The server the link started, and where it ran (a partition; None: the login node).
    server: str = ""
    partition: str | None = None
    seconds: float = 0.0


class LaunchLinksReport(DataModel):
    site: str
    results: list[LaunchLinkResult] = Field(default_factory=list)
    cleanup: Cleanup = Field(default_factory=Cleanup)

    @property
    def failed(self) -> list[LaunchLinkResult]:
        return [result for result in self.results if result.status == "failed"]


def write_launch_links_report(report: LaunchLinksReport, folder: Path) -> Path:
    path = folder / LAUNCH_LINKS_REPORT
    write_json(path, report)
    return path


def load_launch_links_report(path: Path) -> LaunchLinksReport | None:
    """The last check's report; None where none was written, HandbookInputError when it is broken."""
    text = read_data_text(path)
    return None if text is None else parse_json(text, LaunchLinksReport, file=path)
