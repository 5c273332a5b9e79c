"""The reference site's commands: `hpc-handbook site` (up, down, status, reset) and
`hpc-handbook service-bench` (the hub measured under spawns and load)."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

from hpc_handbook.data.forecast_accuracy import FORECAST_ACCURACY
from hpc_handbook.data.service_measurements import SERVICE_MEASUREMENTS
from hpc_handbook.profile import Profile, load_profile, profile_file
from hpc_handbook.reference_site.checks import check_site, show_status
from hpc_handbook.reference_site.lifecycle import down, reset, up
from hpc_handbook.reference_site.paths import ReferenceSiteError
from hpc_handbook.reference_site.slurm_conf import check_nodes_fit_host


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    _add_service_bench_command(subparsers)
    _add_forecast_bench_command(subparsers)
    parser = subparsers.add_parser("site", help="bring the reference site up or down, or show its status")
    actions = parser.add_subparsers(title="actions", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--site", help="the site profile (default: $HANDBOOK_SITE or site.yml)")
    for name, function, help_text in (
        ("up", _run_up, "install, configure and start the site (idempotent)"),
        ("down", _run_down, "cancel all jobs and stop every site daemon"),
        ("status", _run_status, "show daemons, partitions, kernels and modules; non-zero if any is down"),
    ):
        action = actions.add_parser(name, parents=[common], help=help_text)
        action.set_defaults(run=function)
    reset_action = actions.add_parser(
        "reset",
        parents=[common],
        help="start the site anew as on a new machine: Slurm state purged (job ids from 1), "
        "kernels, modules and logs rebuilt; only the Debian packages stay",
    )
    reset_action.add_argument(
        "--force",
        action="store_true",
        help="reset even when the site is not up or jobs are queued or running (they are cancelled)",
    )
    reset_action.set_defaults(run=_run_reset)


def _reported(action: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run an action; a site that cannot be built or checked gives one message and exit code 1."""

    @functools.wraps(action)
    def run(args: argparse.Namespace) -> int:
        try:
            return action(args)
        except ReferenceSiteError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1

    return run


@_reported
def _run_up(args: argparse.Namespace) -> int:
    up(_site_profile(args.site))
    return 0


@_reported
def _run_reset(args: argparse.Namespace) -> int:
    reset(_site_profile(args.site), force=args.force)
    return 0


def _site_profile(path: str | None) -> Profile:
    """The profile, refused (exit 2) when this machine cannot stand in for its nodes."""
    profile = load_profile(path)
    check_nodes_fit_host(profile, profile_file(path))
    return profile


@_reported
def _run_down(args: argparse.Namespace) -> int:
    if args.site:
        load_profile(args.site)  # a bad --site is still reported as bad input
    down()
    return 0


@_reported
def _run_status(args: argparse.Namespace) -> int:
    profile = load_profile(args.site)
    checks = check_site(profile)
    show_status(profile, checks)
    return 0 if all(c.ok for c in checks) else 1


def _add_service_bench_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "service-bench",
        help="time the hub's spawns on each place of the form and a load run of the load-test accounts",
    )
    parser.add_argument("--site", help="the site profile (default: $HANDBOOK_SITE or site.yml)")
    parser.add_argument("--rounds", type=int, default=5, help="spawns per place (default: 5)")
    parser.add_argument("--output", type=Path, default=SERVICE_MEASUREMENTS)
    parser.set_defaults(run=_run_service_bench)


def _run_service_bench(args: argparse.Namespace) -> int:
    # The bench's hub and kernel clients take a while to import; only this command needs them.
    from hpc_handbook.reference_site.service_bench import run_service_bench

    if args.rounds < 1:
        print("error: --rounds: expected at least 1", file=sys.stderr)
        return 2
    return run_service_bench(load_profile(args.site), rounds=args.rounds, output=args.output)


def _add_forecast_bench_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "forecast-bench",
        help="fill the batch partition with a job mix; set the form's start forecast against real starts",
    )
    parser.add_argument("--site", help="the site profile (default: $HANDBOOK_SITE or site.yml)")
    parser.add_argument(
        "--probes", type=int, default=16, help="jobs of the form's sizes to forecast (default: 16)"
    )
    parser.add_argument("--load-jobs", type=int, default=30, help="jobs of the mix around them (default: 30)")
    parser.add_argument("--output", type=Path, default=FORECAST_ACCURACY)
    parser.set_defaults(run=_run_forecast_bench)


def _run_forecast_bench(args: argparse.Namespace) -> int:
    from hpc_handbook.reference_site.forecast_bench import run_forecast_bench

    if args.probes < 1 or args.load_jobs < 0:
        print("error: --probes: expected at least 1; --load-jobs: expected 0 or more", file=sys.stderr)
        return 2
    return run_forecast_bench(
        load_profile(args.site), probes=args.probes, load_jobs=args.load_jobs, output=args.output
    )
