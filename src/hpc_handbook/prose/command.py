"""The prose check's commands: `hpc-handbook prose` holds every page against the site (exit 1 on a
finding); `hpc-handbook stale-data` lists the figures older than the site and, with `--measure`,
measures them again, each measurement as its own command, as an admin would run it."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from hpc_handbook.changelog.fragments import load_fragments
from hpc_handbook.data.examples_report import junit_xml
from hpc_handbook.data.files import write_atomically
from hpc_handbook.data.snapshot import DEFAULT_SNAPSHOT
from hpc_handbook.profile import Profile, load_profile
from hpc_handbook.prose.check import ProseFinding, check_prose
from hpc_handbook.prose.freshness_check import freshness_findings, stale_figures
from hpc_handbook.prose.outputs_check import unsanitized_outputs
from hpc_handbook.prose.report_rows import pages_checked, prose_results
from hpc_handbook.prose.reviews import ReviewDue, reviews_due
from hpc_handbook.site_facts.freshness import SPAWNS_COMMAND, WAITING_TIMES_COMMAND
from hpc_handbook.site_facts.vocabulary import load_vocabulary

#: Exit code when a page contradicts the site (2 stays reserved for bad input).
FINDINGS_EXIT_CODE = 1


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("prose", help="check what the pages say about the site against it")
    parser.add_argument("pages", nargs="*", help="pages to check, as book/.../x.md or examples/x.ipynb")
    parser.add_argument("--site", help="site profile (default: $HANDBOOK_SITE or site.yml)")
    parser.add_argument("--root", default=".", help="the book's root, with book/ and examples/")
    parser.add_argument("--snapshot", default=None, help=f"the site's snapshot (default: {DEFAULT_SNAPSHOT})")
    parser.add_argument("--json", dest="json_path", help="also write the findings to this JSON file")
    parser.add_argument(
        "--junit",
        dest="junit_path",
        help="also write them as JUnit XML, one test case per page, for a CI system",
    )
    parser.set_defaults(run=run)
    _add_stale_data_command(subparsers)


def prose_findings(
    root: Path, site: str | None, snapshot: str | None, pages: list[str] | None
) -> tuple[list[ProseFinding], list[ReviewDue]]:
    """The pages' findings, and the self-assessed statements whose review is due."""
    profile = load_profile(site)
    vocabulary = load_vocabulary(
        profile, snapshot=Path(snapshot) if snapshot else root / DEFAULT_SNAPSHOT, examples=root / "examples"
    )
    findings = check_prose(root, vocabulary, pages)
    if pages is None:
        findings += freshness_findings(root, vocabulary) + unsanitized_outputs(root)
    return findings, reviews_due(profile, load_fragments(root / "changelog"))


def format_findings(findings: list[ProseFinding], due: list[ReviewDue], seconds: float) -> str:
    if not findings:
        lines = [f"Prose check: no page contradicts the site ({seconds:.2f} s)."]
    else:
        lines = [f"Prose check: {len(findings)} statement(s) contradict the site ({seconds:.2f} s)"]
        lines += [f"- {finding.line()}" for finding in findings]
    if due:
        lines.append(f"Warning: {len(due)} self-assessed statement(s) to review again")
        lines += [f"- {item.line()}" for item in due]
    return "\n".join(lines)


def _junit(findings: list[ProseFinding], root: Path, profile: Profile) -> str:
    # The doc CI's own report rows: a CI system shows a page's findings as it shows a failing example's.
    return junit_xml(prose_results(findings, pages_checked=pages_checked(root)), site=profile.site.short_name)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    findings, due = prose_findings(Path(args.root), args.site, args.snapshot, args.pages or None)
    print(format_findings(findings, due, time.perf_counter() - started))
    if args.json_path:
        payload = {
            "findings": [finding.model_dump() for finding in findings],
            "reviews_due": [item.line() for item in due],
        }
        write_atomically(Path(args.json_path), json.dumps(payload, indent=2) + "\n")
    if args.junit_path:
        write_atomically(Path(args.junit_path), _junit(findings, Path(args.root), load_profile(args.site)))
    return FINDINGS_EXIT_CODE if findings else 0


#: The commands that measure each kind of stale figure again, in order, and whether each reads the profile.
MEASUREMENTS = {
    WAITING_TIMES_COMMAND: [(["waiting-times", "generate"], False), (["waiting-times", "collect"], True)],
    SPAWNS_COMMAND: [(["service-bench"], True)],
}


def _add_stale_data_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stale-data", help="list figures older than the site; --measure redoes them"
    )
    parser.add_argument("--site", help="site profile (default: $HANDBOOK_SITE or site.yml)")
    parser.add_argument("--root", default=".", help="the book's root, with book/ and examples/")
    parser.add_argument(
        "--measure", action="store_true", help="measure the stale waiting and spawn times again"
    )
    parser.set_defaults(run=run_stale_data)


def run_stale_data(args: argparse.Namespace) -> int:
    root = Path(args.root)
    profile = load_profile(args.site)
    vocabulary = load_vocabulary(profile, snapshot=root / DEFAULT_SNAPSHOT, examples=root / "examples")
    stale = stale_figures(root, vocabulary)
    if not stale:
        print("stale-data: every figure covers the site as it is now")
        return 0
    for figure in stale:
        print(f"stale-data: {figure.line()}")
    if not args.measure:
        return 1
    tool = shutil.which("hpc-handbook") or str(Path(sys.executable).with_name("hpc-handbook"))
    site = ["--site", args.site] if args.site else []
    for command in dict.fromkeys(figure.command for figure in stale):
        for step, reads_profile in MEASUREMENTS.get(command, []):
            print(f"stale-data: measuring again: hpc-handbook {' '.join(step)}", flush=True)
            if subprocess.run([tool, *step, *(site if reads_profile else [])], check=False).returncode != 0:
                return 1
        if command not in MEASUREMENTS:
            print(f"stale-data: refresh it with `{command}`")
    return 0
