"""The doc CI's reports: JUnit XML for CI systems, Markdown for admins, JSON for the book.

Failures are grouped by owner, so each fix has someone who owns it.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import defaultdict
from pathlib import Path

from hpc_handbook.data.examples_report import (
    EXAMPLES_REPORT,
    Cleanup,
    ExampleResult,
    ExamplesReport,
    Summary,
    junit_xml,
    write_examples_report,
)
from hpc_handbook.data.files import write_atomically
from hpc_handbook.doc_ci.run.execute import JobResult
from hpc_handbook.doc_ci.run.workspace import gigabytes
from hpc_handbook.profile import Profile

REPORT_DIR = Path("_build/reports")


def page_url(profile: Profile, result: JobResult) -> str:
    return f"{str(profile.site.docs_url).rstrip('/')}/{result.page}.html"


def differing_cells(result: ExampleResult) -> list[int]:
    """The cells a failure names: every cell whose outputs differ, else the one it stopped in."""
    if result.differences:
        return [difference.cell for difference in result.differences]
    return [result.cell] if result.cell is not None else []


def cells_text(cells: list[int]) -> str:
    """`cell 3`, `cells 3 and 5`, `cells 3, 5 and 7`."""
    numbers = [str(cell) for cell in cells]
    if len(numbers) == 1:
        return f"cell {numbers[0]}"
    return f"cells {', '.join(numbers[:-1])} and {numbers[-1]}"


def summary_counts(results: list[JobResult]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for result in results:
        counts[result.status] += 1
    return counts


#: The durations the report records to a hundredth of a second.
_ROUNDED = ("seconds", "startup_seconds", "busy_seconds")


def example_result(result: JobResult) -> ExampleResult:
    """One verdict as the report for the book records it (without the executed notebook)."""
    rounded = {name: round(getattr(result, name), 2) for name in _ROUNDED}
    return ExampleResult.model_validate({**result.model_dump(), **rounded})


def _where(result: JobResult) -> str:
    where = result.partition or "login node"
    where = f"{where}, node {result.node}" if result.node else where
    return f"{where}, environment {result.environment}" if result.environment else where


def kept_text(result: ExampleResult) -> str:
    """Where a failure's working folder is kept, and what of it."""
    kept = result.kept
    if kept is None:
        return ""
    size = f"{kept.files} files, {gigabytes(kept.bytes)}"
    if kept.left_out:
        size += f"; {kept.left_out} left out: environments, Dask's folders, large files"
    return f"Its working folder is kept in `{kept.path}` ({size})."


def cleanup_summary(cleanup: Cleanup) -> str:
    """One line: where the run worked, its room, and what it removed and put back."""
    room = [f"{gigabytes(cleanup.free_bytes)} free"] if cleanup.free_bytes is not None else []
    if cleanup.quota_left_bytes is not None:
        room.append(f"{gigabytes(cleanup.quota_left_bytes)} left in the quota")
    needed = f"{', '.join(room)}; " if room else ""
    text = (
        f"The run worked in {cleanup.where or 'its folders'} ({needed}{gigabytes(cleanup.needed_bytes)} "
        f"needed) and removed {gigabytes(cleanup.removed_bytes)} at its end"
    )
    if cleanup.removed_count:
        text += f", among it {_count(cleanup.removed_count, 'entry', 'entries')} that appeared during the run"
    if cleanup.restored_count:
        text += f", and put back {_count(cleanup.restored_count, 'file', 'files')} that changed"
    return text + "."


def _count(number: int, one: str, more: str) -> str:
    return f"{number} {one if number == 1 else more}"


def print_cleanup(cleanup: Cleanup) -> bool:
    """The summary on stdout, each problem on stderr; True when there was any (the run then fails)."""
    print(cleanup_summary(cleanup))
    for problem in cleanup.problems:
        print(f"cleanup failed: {problem}", file=sys.stderr)
    return bool(cleanup.problems)


def cleanup_lines(cleanup: Cleanup | None) -> list[str]:
    """The report's section on where the run worked; its problems first, since each fails the run."""
    if cleanup is None:
        return []
    lines = ["## Where the run worked", "", cleanup_summary(cleanup), ""]
    if cleanup.problems:
        lines += ["**Not cleaned up** (the run fails for it; remove these by hand):", ""]
        lines += [f"- {problem}" for problem in cleanup.problems] + [""]
    if cleanup.earlier:
        lines += ["Put right before the run:", "", *(f"- {text}" for text in cleanup.earlier), ""]
    if cleanup.removed:
        more = cleanup.removed_count - len(cleanup.removed)
        shown = ", ".join(f"`{path}`" for path in cleanup.removed) + (f" and {more} more" if more > 0 else "")
        lines += [f"Appeared during the run and removed: {shown}.", ""]
    return lines


def markdown_report(
    results: list[JobResult], *, profile: Profile, when: dt.datetime, cleanup: Cleanup | None = None
) -> str:
    counts = summary_counts(results)
    lines = [
        f"# Doc CI report for {profile.site.short_name}",
        "",
        f"Run at {when:%Y-%m-%d %H:%M} UTC: "
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped.",
        "",
    ]
    picked = {r.example: r.picked_because for r in results if r.picked_because}
    if picked:
        # A merge request's run: why each example was chosen for the change.
        lines += ["## Picked for this change", "", *(f"- **{n}**: {why}" for n, why in picked.items()), ""]
    failed = [r for r in results if r.status == "failed"]
    if failed:
        lines += ["## Failures by owner", ""]
        by_owner: dict[str, list[JobResult]] = defaultdict(list)
        for result in failed:
            by_owner[result.owner].append(result)
        for owner in sorted(by_owner):
            lines += [f"### {owner}", ""]
            for result in by_owner[owner]:
                cells = differing_cells(result)
                where = cells_text(cells) if cells else "before the first cell"
                # One line per differing cell reads better than the reason's one long line.
                reason = [f"cell {d.cell}: {d.summary}" for d in result.differences]
                lines += [
                    f"- **{result.example}** on kernel `{result.kernel}` ({where}); "
                    f"page: [{result.page}]({page_url(profile, result)})",
                    "",
                    "  ```text",
                    *(f"  {line}" for line in reason or result.reason.splitlines()),
                    "  ```",
                    "",
                ]
                if result.diff:
                    lines += ["  ```diff", *(f"  {line}" for line in result.diff.splitlines()), "  ```", ""]
                if result.kept is not None:
                    lines += [f"  {kept_text(result)}", ""]
    lines += cleanup_lines(cleanup)
    lines += [
        "## All examples",
        "",
        "| Example | Kernel | Result | Where | Owner | Seconds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for result in sorted(results, key=lambda r: (r.example, r.kernel)):
        verdict = (
            result.status if result.status != "skipped" else f"not verified at this site: {result.reason}"
        )
        lines.append(
            f"| {result.example} | {result.kernel} | {verdict} | {_where(result)} "
            f"| {result.owner} | {result.seconds:.1f} |"
        )
    return "\n".join(lines) + "\n"


def json_report(
    results: list[JobResult], *, profile: Profile, when: dt.datetime, cleanup: Cleanup | None = None
) -> ExamplesReport:
    return ExamplesReport(
        site=profile.site.short_name,
        date=when.strftime("%Y-%m-%d"),
        summary=Summary(**summary_counts(results)),
        results=[example_result(r) for r in sorted(results, key=lambda r: (r.example, r.kernel))],
        cleanup=cleanup,
    )


def write_reports(
    results: list[JobResult],
    *,
    profile: Profile,
    directory: Path = REPORT_DIR,
    cleanup: Cleanup | None = None,
) -> dict[str, Path]:
    when = dt.datetime.now(dt.UTC)
    paths = {
        "junit": directory / "examples.xml",
        "markdown": directory / "examples.md",
        "json": directory / EXAMPLES_REPORT,
    }
    write_atomically(paths["junit"], junit_xml(results, site=profile.site.short_name))
    write_atomically(paths["markdown"], markdown_report(results, profile=profile, when=when, cleanup=cleanup))
    write_examples_report(paths["json"], json_report(results, profile=profile, when=when, cleanup=cleanup))
    return paths
