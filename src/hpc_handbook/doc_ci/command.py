"""`hpc-handbook examples`, `refresh` and `bench`: the doc CI's commands."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hpc_handbook.data.snapshot import DEFAULT_SNAPSHOT
from hpc_handbook.doc_ci.notify.settings import add_notify_options, resolve_channels
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.profile import Profile, load_profile

if TYPE_CHECKING:
    # The runner's imports take seconds; commands that do not run examples skip them.
    from hpc_handbook.doc_ci.dispatch.jobs import DispatchSetup
    from hpc_handbook.doc_ci.run.execute import JobResult

MARKS = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}


def _print_result(result: JobResult) -> None:
    where = result.kernel if result.environment is None else f"{result.kernel} in {result.environment}"
    line = f"{MARKS[result.status]}  {result.example} [{where}]"
    if result.status == "passed":
        line += f"  {result.seconds:.1f} s"
    elif result.status == "skipped":
        line += f"  not verified at this site: {result.reason}"
    elif result.reason:
        line += f"  {result.reason.splitlines()[0]}"
    print(line, flush=True)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    examples = subparsers.add_parser(
        "examples", help="run every example on the site's kernels and compare outputs"
    )
    examples.add_argument("names", nargs="*", help="examples to run (default: all)")
    examples.add_argument("--site", help="site profile (default: site.yml)")
    examples.add_argument("--examples-dir", default="examples")
    examples.add_argument(
        "--workers", type=int, default=None, help="examples in flight (default: 2 per core)"
    )
    examples.add_argument("--report-dir", default="_build/reports")
    _add_dispatch_options(examples)
    _add_since_snapshot_options(examples)
    examples.add_argument(
        "--changed-since",
        metavar="REF",
        help="run only the examples the changes since REF touch (a merge request's target), saying why "
        "each was picked; every example when shared machinery changed",
    )
    _add_direct_option(examples)
    add_notify_options(examples)
    examples.set_defaults(run=run_examples_command)

    refresh = subparsers.add_parser("refresh", help="re-execute examples and write their reference outputs")
    refresh.add_argument("names", nargs="*", help="examples to refresh (default: all)")
    refresh.add_argument("--site", help="site profile (default: site.yml)")
    refresh.add_argument("--examples-dir", default="examples")
    _add_direct_option(refresh)
    refresh.set_defaults(run=refresh_command)

    links = subparsers.add_parser(
        "launch-links",
        help="follow every example page's \"Open on the hub\" link as the doc CI's account and check the "
        "server's place and the notebook it opens",
    )
    links.add_argument("names", nargs="*", help="examples whose links to follow (default: all)")
    links.add_argument("--site", help="site profile (default: site.yml)")
    links.add_argument("--examples-dir", default="examples")
    links.add_argument("--report-dir", default="_build/reports")
    links.set_defaults(run=launch_links_command)

    bench = subparsers.add_parser(
        "bench", help="measure the runner against papermill + nbval, nbmake and nbval-lax (pytest-xdist)"
    )
    bench.add_argument("--count", type=int, default=32, help="number of generated examples (at least 30)")
    bench.add_argument("--workers", type=int, default=None)
    bench.set_defaults(run=bench_command)


def _add_dispatch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dispatch",
        choices=("local", "slurm"),
        default="local",
        help="slurm: run the examples that may run on any node as worker jobs on the nodes of the "
        "profile's doc_ci.dispatch_partition (default: local, all on this machine)",
    )
    parser.add_argument(
        "--dispatch-nodes",
        type=int,
        default=None,
        metavar="N",
        help="with --dispatch slurm: how many nodes get a worker job (default: every node that takes jobs); "
        "--workers is then the total, shared between them",
    )
    parser.add_argument(
        "--dispatch-dir",
        default="_build/dispatch",
        metavar="DIR",
        help="with --dispatch slurm: where each run's queue and verdicts live; on a real site a folder "
        "every node mounts (default: _build/dispatch)",
    )


def dispatch_setup(args: argparse.Namespace, profile: Profile) -> DispatchSetup | None:
    """The nodes and workers `--dispatch slurm` asks for; bad options are input errors."""
    from hpc_handbook.doc_ci.dispatch.jobs import DispatchSetup, dispatch_targets
    from hpc_handbook.doc_ci.run.runner import default_workers

    if args.dispatch == "local":
        if args.dispatch_nodes is not None:
            raise HandbookInputError("--dispatch-nodes", "", "expected --dispatch slurm beside it")
        return None
    targets = dispatch_targets(profile, args.dispatch_nodes, profile_file=args.site or "site.yml")
    workers = args.workers or default_workers()
    return DispatchSetup(
        targets=targets,
        workers_per_node=max(1, workers // len(targets)),
        walltime=profile.doc_ci.dispatch_walltime,
        run_root=Path(args.dispatch_dir).resolve(),
    )


def _add_direct_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--direct",
        action="store_true",
        help="start kernels directly on this machine, even when the profile names a hub "
        "(default: through the hub, as the profile's doc-CI account, as users run them)",
    )


def _add_since_snapshot_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since-snapshot",
        nargs="?",
        const=str(DEFAULT_SNAPSHOT),
        default=None,
        metavar="PATH",
        help="run first the examples that what changed since the baseline can affect, saying why "
        f"(PATH: the probe's new snapshot, default {DEFAULT_SNAPSHOT}); then the rest",
    )
    parser.add_argument(
        "--baseline",
        metavar="FILE",
        help="with --since-snapshot: the snapshot from before the change (default: the one committed in git)",
    )


def _since_snapshot_order(args: argparse.Namespace, profile: Profile) -> list[str]:
    """Print what changed and what runs first, and return that order (empty: the usual one)."""
    from hpc_handbook.doc_ci.plan.since_snapshot import (
        format_plan,
        load_compared,
        new_findings,
        plan_since_snapshot,
    )
    from hpc_handbook.examples.contract import discover_examples

    if args.since_snapshot is None:
        if args.baseline:
            raise HandbookInputError("--baseline", "", "expected --since-snapshot beside it")
        return []
    root = Path(args.examples_dir).parent
    snapshot, baseline, compared = load_compared(
        Path(args.since_snapshot), Path(args.baseline) if args.baseline else None, root=root
    )
    plan = plan_since_snapshot(
        discover_examples(Path(args.examples_dir), profile, args.names or None),
        profile=profile,
        snapshot=snapshot,
        baseline=baseline,
        findings=new_findings(profile, snapshot, baseline, root=root),
    )
    for line in format_plan(plan, compared=compared):
        print(line, flush=True)
    return plan.order


def run_examples_command(args: argparse.Namespace) -> int:
    from hpc_handbook.doc_ci.dispatch.jobs import DispatchError
    from hpc_handbook.doc_ci.notify.alerts import notify_after_run
    from hpc_handbook.doc_ci.report import print_cleanup, write_reports
    from hpc_handbook.doc_ci.run.runner import RunInterrupted, run_examples
    from hpc_handbook.doc_ci.run.through_hub import HubRunError
    from hpc_handbook.doc_ci.run.workspace import NoRoomError

    profile = load_profile(args.site)
    # Bad notification settings stop the run before it starts, not after an hour of examples.
    channels = resolve_channels(
        args, setup=profile.notify, profile_file=args.site or "site.yml", support_email=profile.support.email
    )
    first = _since_snapshot_order(args, profile)
    names, first, picked = _changed_selection(args, profile, first)
    if names == []:
        write_reports([], profile=profile, directory=Path(args.report_dir))
        return 0
    dispatch = dispatch_setup(args, profile)
    try:
        run = run_examples(
            profile=profile,
            examples_dir=Path(args.examples_dir),
            names=names,
            workers=args.workers,
            on_result=_print_result,
            through_hub=profile.hub is not None and not args.direct,
            first=first,
            dispatch=dispatch,
            # Only the last run's failing folders are kept, within bounds.
            keep_dir=Path(args.report_dir) / "failed",
            every_environment=True,
        )
    except (HubRunError, DispatchError, NoRoomError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:
        print("interrupted: every kernel and Slurm job of this run was ended", file=sys.stderr)
        if isinstance(interrupt, RunInterrupted):
            print_cleanup(interrupt.cleanup)
        return 130
    results = list(run.results)
    for result in results:
        result.picked_because = picked.get(result.example, "")
    if not args.names and args.changed_since is None:
        # A whole run also holds every page against the site: the same report, alerts and owners.
        results += _prose_rows(Path(args.examples_dir).resolve().parent, args.site)
    paths = write_reports(results, profile=profile, directory=Path(args.report_dir), cleanup=run.cleanup)
    failed = sum(r.status == "failed" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    print(f"\n{len(results) - failed - skipped} passed, {failed} failed, {skipped} skipped")
    print(f"report: {paths['markdown']} (JUnit XML: {paths['junit']})")
    # What the run could not remove fills the account's home night after night: it fails the run.
    left_behind = print_cleanup(run.cleanup)
    # A notifier that fails says why on stderr; the exit code stays the examples'.
    notify_after_run(results, channels=channels, profile=profile, report=paths["markdown"])
    return 1 if failed or left_behind else 0


def _changed_selection(
    args: argparse.Namespace, profile: Profile, first: list[str]
) -> tuple[list[str] | None, list[str], dict[str, str]]:
    """The examples to run (None: all), those to run first, and why each was picked for a change."""
    if args.changed_since is None:
        return args.names or None, first, {}
    from hpc_handbook.data.snapshot import load_snapshot
    from hpc_handbook.doc_ci.plan.change import plan_change

    root = Path(args.examples_dir).resolve().parent
    plan = plan_change(root, args.changed_since, profile, load_snapshot(root / DEFAULT_SNAPSHOT))
    for line in plan.lines():
        print(line, flush=True)
    picked = {p.example: p.why for p in plan.picks}
    if plan.shared:
        return None, list(picked), picked
    return list(picked), [], picked


def _prose_rows(root: Path, site: str | None) -> list[JobResult]:
    from hpc_handbook.doc_ci.run.execute import JobResult
    from hpc_handbook.prose.command import format_findings, prose_findings
    from hpc_handbook.prose.report_rows import pages_checked, prose_results

    started = time.perf_counter()
    findings, due = prose_findings(root, site, None, None)
    print(format_findings(findings, due, time.perf_counter() - started), flush=True)
    rows = prose_results(findings, pages_checked=pages_checked(root))
    return [JobResult.model_validate(row.model_dump()) for row in rows]


def refresh_command(args: argparse.Namespace) -> int:
    from hpc_handbook.doc_ci.refresh import refresh_examples
    from hpc_handbook.doc_ci.run.through_hub import HubRunError
    from hpc_handbook.doc_ci.run.workspace import NoRoomError

    profile = load_profile(args.site)
    try:
        results = refresh_examples(
            profile=profile,
            examples_dir=Path(args.examples_dir),
            names=args.names or None,
            through_hub=profile.hub is not None and not args.direct,
        )
    except (HubRunError, NoRoomError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: no notebook was changed by the unfinished examples", file=sys.stderr)
        return 130
    broken = [r for r in results if r.status == "failed" and not r.output_mismatch_only]
    for result in results:
        if result in broken:
            print(f"KEPT  {result.example} [{result.kernel}]  not refreshed: {result.reason.splitlines()[0]}")
        elif result.status == "skipped":
            print(f"SKIP  {result.example} [{result.kernel}]  not verified at this site: {result.reason}")
        else:
            print(f"NEW   {result.example} [{result.kernel}]  reference outputs written")
    return 1 if broken else 0


def bench_command(args: argparse.Namespace) -> int:
    from hpc_handbook.doc_ci.bench.peers import run_bench

    return run_bench(count=args.count, workers=args.workers)


def launch_links_command(args: argparse.Namespace) -> int:
    from hpc_handbook.data.launch_links import write_launch_links_report
    from hpc_handbook.doc_ci.report import print_cleanup
    from hpc_handbook.doc_ci.run.launch_check import check_launch_links
    from hpc_handbook.doc_ci.run.through_hub import HubRunError
    from hpc_handbook.examples.contract import discover_examples
    from hpc_handbook.hub.client import HubError

    profile = load_profile(args.site)
    if profile.hub is None:
        raise HandbookInputError(args.site or "site.yml", "hub", "expected the doc CI's hub access")
    examples = discover_examples(Path(args.examples_dir), profile, args.names or None)
    try:
        report = check_launch_links(profile, examples, run_id=f"links:{os.getpid()}")
    except (HubRunError, HubError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for result in report.results:
        where = f"{result.page} (owner {result.owner})"
        detail = f": {result.reason}" if result.reason else ""
        print(f"{result.status.upper():8} {where}{detail}", flush=True)
    path = write_launch_links_report(report, Path(args.report_dir))
    left_behind = print_cleanup(report.cleanup)
    failed = len(report.failed)
    print(f"\n{len(report.results)} links: {failed} failed; report: {path}")
    return 1 if failed or left_behind else 0
