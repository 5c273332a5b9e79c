"""The prose check's findings as rows of the doc CI's report: one per page, with the page's owner.

A page that contradicts the site fails like an example whose outputs drifted: the same
report, the same JUnit file, the same alerts to the same owners, with each statement's line.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from hpc_handbook.data.examples_report import ExampleResult
from hpc_handbook.prose.check import ProseFinding

#: What the report's kernel column says for a prose check row.
PROSE_CHECK = "prose check"


def pages_checked(root: Path) -> int:
    """How many pages and examples of the book at `root` the prose check reads."""
    return len(list((root / "book").rglob("*.md"))) + len(list((root / "examples").glob("*.ipynb")))


def _docname(page: str) -> str:
    """`book/start/log-in.md` is the book's page `book/start/log-in`."""
    return page.rsplit(".", 1)[0]


def prose_results(findings: list[ProseFinding], *, pages_checked: int) -> list[ExampleResult]:
    """One failed row per page with findings, or one passed row when no page has any."""
    if not findings:
        reason = f"{pages_checked} pages and examples checked against the site"
        return [ExampleResult(example="all pages", kernel=PROSE_CHECK, status="passed", reason=reason)]
    by_page: dict[str, list[ProseFinding]] = defaultdict(list)
    for finding in findings:
        by_page[finding.page].append(finding)
    rows = []
    for page, found in by_page.items():
        locations = [f.location for f in found]
        reason = "\n".join(
            f"{location}: {f.kind}: {f.claim} — {f.truth}"
            for location, f in zip(locations, found, strict=True)
        )
        rows.append(
            ExampleResult(
                example=Path(page).name,
                kernel=PROSE_CHECK,
                status="failed",
                reason=reason,
                page=_docname(page),
                owner=found[0].owner,
                locations=locations,
            )
        )
    return rows
