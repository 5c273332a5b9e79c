"""`hpc-handbook forecast-bench` (in `nox -s bench`): the spawn form's start forecast against real starts.

The partition that batch work goes to is filled with a job mix whose jobs end well before their
time limits, as on a real cluster. Then, every few seconds, the bench asks for the forecast as the
form does (Slurm's `sbatch --test-only` and the recent waits of jobs of that size) and at once
submits a job of that size; once all have started, each real start is set against what the form
said: the median absolute error of Slurm's estimate and of the recent median wait, and how many
started within the range shown. The figures go to `book/data/forecast-accuracy.json`.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpc_handbook.data.files import write_json
from hpc_handbook.data.forecast_accuracy import ForecastAccuracy, ProbeJob
from hpc_handbook.profile import Profile, expand_hostlist
from hpc_handbook.reference_site.forecast import Forecast, parse_will_run, recent_waits, will_run_command
from hpc_handbook.reference_site.hub import waiting_times_for_hub
from hpc_handbook.reference_site.spawn_options import walltime_seconds
from hpc_handbook.slurm import cancel_jobs_named, wait_until_gone

LOAD_NAME = "hbk-forecast-load"
PROBE_NAME = "hbk-forecast-probe"
#: The sizes probed in turn, as (nodes, CPUs per node): what users ask the form for.
PROBE_SIZES = ((1, 1), (1, 4), (2, 4), (1, 8))
PROBE_WALLTIME = "00:05:00"
PROBE_EVERY_S = 5.0
START_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Submitted:
    job_id: str
    nodes: int
    cpus: int
    submitted: dt.datetime
    forecast: Forecast


def _sbatch(*options: str) -> str:
    result = subprocess.run(
        ["sbatch", "--parsable", "--mem=64M", "--output=/dev/null", "--error=/dev/null", *options],
        capture_output=True, text=True, check=False, timeout=60, cwd="/tmp",
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"sbatch {' '.join(options)}: {result.stderr.strip()}")
    return result.stdout.strip().split(";")[0]


def fill_partition(partition: str, nodes: int, cpus_per_node: int, jobs: int, seed: int = 7) -> list[str]:
    """A job mix that keeps the partition busy for a few minutes; each job ends before its limit."""
    rng = random.Random(seed)
    submitted = []
    for _ in range(jobs):
        width = 2 if nodes > 1 and rng.random() < 0.2 else 1
        cpus = rng.choice([c for c in (2, 4, cpus_per_node) if c <= cpus_per_node])
        limit_min = rng.choice((1, 2, 3))
        # Real jobs end early: the scheduler plans with the limit, the job takes a share of it.
        sleep_s = int(limit_min * 60 * rng.uniform(0.1, 0.5))
        submitted.append(
            _sbatch(
                f"--job-name={LOAD_NAME}",
                f"--partition={partition}",
                f"--nodes={width}",
                f"--cpus-per-task={cpus}",
                f"--time={limit_min}",
                f"--wrap=sleep {sleep_s}",
            )
        )
    return submitted


def forecast_now(waits: dict[str, Any] | None, partition: str, nodes: int, cpus: int) -> Forecast:
    """What the form says for this size now, asked as the form asks (here as root, without a project)."""
    asked_at = dt.datetime.now().replace(microsecond=0)
    answer = subprocess.run(
        will_run_command(partition, PROBE_WALLTIME, nodes, cpus, None),
        capture_output=True, text=True, check=False, timeout=60, cwd="/tmp",
    )  # fmt: skip
    start = parse_will_run(answer.stdout + answer.stderr)
    history = recent_waits(waits, partition, nodes, walltime_seconds(PROBE_WALLTIME) // 60)
    note = None if start is not None else (answer.stderr.strip() or "no estimate")
    return Forecast(partition, start, note, history, asked_at)


def real_starts(job_ids: list[str], timeout_s: float) -> dict[str, dt.datetime]:
    """Each job's start as Slurm's accounting records it, once every one has started."""
    deadline = time.monotonic() + timeout_s
    starts: dict[str, dt.datetime] = {}
    while time.monotonic() < deadline:
        answer = subprocess.run(
            ["sacct", "--noheader", "--parsable2", "-X", f"--jobs={','.join(job_ids)}",
             "--format=JobIDRaw,Start"],
            capture_output=True, text=True, check=False, timeout=60,
        ).stdout  # fmt: skip
        for line in answer.splitlines():
            job_id, _, start = line.partition("|")
            try:
                starts[job_id] = dt.datetime.fromisoformat(start)
            except ValueError:
                continue  # not started yet ("Unknown", "None")
        if set(job_ids) <= set(starts):
            return starts
        time.sleep(2)
    missing = sorted(set(job_ids) - set(starts))
    raise RuntimeError(f"probe jobs {', '.join(missing)} did not start within {timeout_s:.0f} s")


def _seconds(when: dt.datetime | None, since: dt.datetime) -> float | None:
    return None if when is None else (when - since).total_seconds()


def probe_job(probe: Submitted, started: dt.datetime) -> ProbeJob:
    forecast, since = probe.forecast, probe.submitted
    history = forecast.history
    return ProbeJob(
        nodes=probe.nodes,
        cpus=probe.cpus,
        walltime=PROBE_WALLTIME,
        scheduler_s=_seconds(forecast.scheduler_start, since),
        history_median_s=history.median_s if history is not None else None,
        range_start_s=_seconds(forecast.earliest, since),
        range_end_s=_seconds(forecast.latest, since),
        started_s=(started - since).total_seconds(),
        within_range=forecast.within(started),
    )


def accuracy(profile: Profile, partition: str, load_jobs: int, probes: list[ProbeJob]) -> ForecastAccuracy:
    def median_error(errors: list[float]) -> float | None:
        return round(statistics.median(errors), 1) if errors else None

    return ForecastAccuracy(
        site=profile.site.short_name,
        date=dt.date.today().isoformat(),
        partition=partition,
        load_jobs=load_jobs,
        probes=probes,
        scheduler_median_abs_error_s=median_error(
            [abs(p.started_s - p.scheduler_s) for p in probes if p.scheduler_s is not None]
        ),
        history_median_abs_error_s=median_error(
            [abs(p.started_s - p.history_median_s) for p in probes if p.history_median_s is not None]
        ),
        within_range=sum(p.within_range for p in probes),
        range_median_width_s=median_error(
            [
                p.range_end_s - p.range_start_s
                for p in probes
                if p.range_end_s is not None and p.range_start_s is not None
            ]
        ),
    )


def format_table(measured: ForecastAccuracy) -> str:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f} s"

    count = len(measured.probes)
    scheduler, history = measured.scheduler_median_abs_error_s, measured.history_median_abs_error_s
    return "\n".join(
        [
            f"| Forecast, {count} jobs on {measured.partition} beside {measured.load_jobs} others "
            "| Median absolute error | Started within the range shown | Median width of the range |",
            "| --- | --- | --- | --- |",
            f"| Slurm's estimate (sbatch --test-only) | {seconds(scheduler)} | - | - |",
            f"| Recent median wait of that size | {seconds(history)} | - | - |",
            f"| The form's range | - | {measured.within_range} of {count} ({measured.within_share:.0%}) "
            f"| {seconds(measured.range_median_width_s)} |",
        ]
    )


def run_forecast_bench(profile: Profile, *, probes: int, load_jobs: int, output: Path) -> int:
    """Fill the batch partition, probe the forecast, wait for the real starts, print and write the figures."""
    partition = profile.batch_partition
    if partition.node_setup is None:
        print(f"error: partition {partition.name} declares no nodes to fill", file=sys.stderr)
        return 2
    setup = partition.node_setup
    nodes = min(partition.limits.max_nodes, len(expand_hostlist(setup.names)))
    print(f"forecast-bench: {load_jobs} jobs on {partition.name}, then {probes} probes", flush=True)
    # The hub reads the waiting-time data once, at `site up`; so does the bench.
    waits = waiting_times_for_hub()
    submitted: list[Submitted] = []
    load: list[str] = []
    try:
        load += fill_partition(partition.name, nodes, setup.cpus, load_jobs)
        for index in range(probes):
            width, cpus = PROBE_SIZES[index % len(PROBE_SIZES)]
            width, cpus = min(width, nodes), min(cpus, setup.cpus)
            forecast = forecast_now(waits, partition.name, width, cpus)
            submitted_at = dt.datetime.now().replace(microsecond=0)
            size = (f"--nodes={width}", f"--cpus-per-task={cpus}", f"--time={PROBE_WALLTIME}")
            job_id = _sbatch(
                f"--job-name={PROBE_NAME}", f"--partition={partition.name}", *size, "--wrap=sleep 3"
            )
            submitted.append(Submitted(job_id, width, cpus, submitted_at, forecast))
            time.sleep(PROBE_EVERY_S)
        starts = real_starts([s.job_id for s in submitted], START_TIMEOUT_S)
    finally:
        # Interrupted or not, nothing of the bench stays queued.
        for name in (PROBE_NAME, LOAD_NAME):
            cancel_jobs_named(name)
        wait_until_gone([*load, *(s.job_id for s in submitted)], timeout=60)
    measured = accuracy(
        profile, partition.name, len(load), [probe_job(s, starts[s.job_id]) for s in submitted]
    )
    write_json(output, measured)
    print(format_table(measured))
    print(f"forecast-bench: wrote {output}")
    return 0
