"""`hpc-handbook waiting-times`: `collect` the statistics from Slurm's records, or `generate` a job mix."""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import time
from pathlib import Path

from hpc_handbook.data.waiting_times import DEFAULT_OUTPUT, write_waiting_times
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.probe.partitions import probe_slurm
from hpc_handbook.profile import load_profile
from hpc_handbook.waiting_times.job_mix import (
    DEFAULT_JOBS,
    DEFAULT_PREFIX,
    DEFAULT_TIMEOUT,
    plan_mix,
    run_mix,
)
from hpc_handbook.waiting_times.stats import (
    DEFAULT_WEEKS,
    collect_records,
    current_partitions,
    parse_slurm_time,
    waiting_time_stats,
)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("waiting-times", help="collect queue waiting times, or generate a job mix")
    commands = parser.add_subparsers(title="actions", required=True, metavar="ACTION")
    collect = commands.add_parser("collect", help=f"write queue waiting-time statistics to {DEFAULT_OUTPUT}")
    collect.add_argument(
        "--weeks", type=int, default=DEFAULT_WEEKS, help=f"period to cover (default: {DEFAULT_WEEKS})"
    )
    collect.add_argument("--until", help="end of the period, ISO date or time (default: now)")
    collect.add_argument("--jobcomp", help="job-completion log to read (default: JobCompLoc from Slurm)")
    collect.add_argument(
        "--no-sacct", action="store_true", help="do not ask sacct, even where accounting is on"
    )
    collect.add_argument(
        "--output", default=str(DEFAULT_OUTPUT), help=f"where to write (default: {DEFAULT_OUTPUT})"
    )
    collect.add_argument("--site", help="the site profile, which names the site (default: site.yml)")
    collect.set_defaults(run=run_collect)

    add_generate_command(commands)


def run_collect(args: argparse.Namespace) -> int:
    if args.weeks < 1:
        raise HandbookInputError("--weeks", "", f"expected at least 1 week, got {args.weeks}")
    if args.until:
        end = parse_slurm_time(args.until)
        if end is None:
            raise HandbookInputError("--until", "", f"expected an ISO date or time, got {args.until!r}")
    else:
        end = dt.datetime.now().replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    start = end - dt.timedelta(weeks=args.weeks)
    records, sources = collect_records(
        start=start,
        end=end,
        jobcomp=Path(args.jobcomp) if args.jobcomp else None,
        use_sacct=not args.no_sacct,
    )
    if not sources:
        print("warning: no job records: the site has neither jobcomp/filetxt nor accounting", flush=True)
    data = waiting_time_stats(records, start=start, end=end, sources=sources)
    data = data.model_copy(update={"site": load_profile(args.site).site.short_name})
    if not args.jobcomp:
        # The partitions as they are now: the book marks the figures stale once they change.
        data = data.model_copy(update={"measured_on": current_partitions()})
    output = Path(args.output)
    write_waiting_times(output, data)
    print(f"{data.total_jobs} jobs from {', '.join(sources) or 'no source'} between {start:%Y-%m-%d} and "
          f"{end:%Y-%m-%d}; wrote {output}")  # fmt: skip
    return 0


def add_generate_command(commands: argparse._SubParsersAction) -> None:
    generate = commands.add_parser("generate", help="submit a short job mix so the queue has a history")
    generate.add_argument(
        "--jobs", type=int, default=DEFAULT_JOBS, help=f"how many jobs (default: {DEFAULT_JOBS})"
    )
    generate.add_argument(
        "--prefix", default=DEFAULT_PREFIX, help=f"job name prefix (default: {DEFAULT_PREFIX})"
    )
    generate.add_argument("--seed", type=int, default=1, help="seed of the mix, for a repeatable load")
    generate.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait before cancelling"
    )
    generate.add_argument("--dry-run", action="store_true", help="print the sbatch commands, submit nothing")
    generate.set_defaults(run=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    if not 1 <= args.jobs <= 200:
        raise HandbookInputError("--jobs", "", f"expected 1 to 200 jobs, got {args.jobs}")
    _, partitions = probe_slurm()
    plan = plan_mix(partitions, jobs=args.jobs, prefix=args.prefix, seed=args.seed)
    if not plan:
        print("error: no partition is up; is the site running? (`hpc-handbook site status`)", file=sys.stderr)
        return 1
    if args.dry_run:
        for job in plan:
            print(shlex.join(job.sbatch_command()))
        return 0
    started = time.monotonic()
    submitted, finished = run_mix(plan, timeout=args.timeout)
    took = time.monotonic() - started
    if not finished:
        print(
            f"error: the mix did not finish within {args.timeout:g} s; its jobs were cancelled",
            file=sys.stderr,
        )
        return 1
    print(f"{len(submitted)} jobs ran in {took:.0f} s; now run `hpc-handbook waiting-times collect`.")
    return 0
