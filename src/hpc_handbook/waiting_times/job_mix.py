"""`hpc-handbook waiting-times generate`: submit a short, realistic job mix to the site's scheduler.

A fresh reference site has no history, so its waiting-times page would have
nothing to show. This submits a bounded mix of sleep jobs, mostly small and a few
wide, with requested walltimes across the page's buckets, so the queue forms and the
waiting times come from the real scheduler. Every job carries the name prefix, the
command waits for all of them, and it cancels whatever is left if it must stop early.
"""

from __future__ import annotations

import dataclasses
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from hpc_handbook.data.snapshot import slurm_duration_seconds
from hpc_handbook.slurm import cancel_jobs, list_jobs, wait_until_gone

DEFAULT_PREFIX = "hbk-mix"
DEFAULT_JOBS = 40
DEFAULT_TIMEOUT = 300.0
#: Requested walltimes in minutes, one per walltime bucket of the page; capped by each partition's MaxTime.
WALLTIMES = (10, 90, 360, 1200)
#: Share of jobs by CPUs per node: most jobs are small, a few take half a node. None takes a
#: whole node: on a shared site that would hold up everyone's kernels until the node drains.
CPU_SHARES = ((1, 0.45), (2, 0.25), (4, 0.2), (8, 0.1))


@dataclasses.dataclass(frozen=True)
class PlannedJob:
    name: str
    partition: str
    nodes: int
    cpus: int
    time_limit_minutes: int
    sleep_seconds: int

    def sbatch_command(self) -> list[str]:
        return [
            "sbatch", "--parsable", f"--job-name={self.name}", f"--partition={self.partition}",
            f"--nodes={self.nodes}", "--ntasks-per-node=1", f"--cpus-per-task={self.cpus}",
            f"--time={self.time_limit_minutes}", "--mem=64M", "--output=/dev/null", "--error=/dev/null",
            f"--wrap=sleep {self.sleep_seconds}",
        ]  # fmt: skip


def plan_mix(
    partitions: dict[str, dict[str, Any]], *, jobs: int, prefix: str, seed: int = 1
) -> list[PlannedJob]:
    """Plan `jobs` jobs over the partitions that are up, within each one's limits.

    The plan is deterministic for a seed, so two runs load the scheduler the same way.
    """
    usable = {
        name: p
        for name, p in sorted(partitions.items())
        if p.get("state") == "UP" and p.get("total_nodes", 0) > 0 and p.get("total_cpus", 0) > 0
    }
    if not usable:
        return []
    rng = random.Random(seed)
    names = list(usable)
    plan = []
    for index in range(jobs):
        name = names[index % len(names)]
        partition = usable[name]
        max_nodes = (
            partition["max_nodes"]
            if isinstance(partition.get("max_nodes"), int)
            else partition["total_nodes"]
        )
        node_limit = max(1, min(max_nodes, partition["total_nodes"]))
        # Wide jobs are rare, as on a real cluster.
        nodes = 1 if node_limit == 1 or rng.random() < 0.75 else rng.randint(2, node_limit)
        cpus_per_node = max(1, partition["total_cpus"] // partition["total_nodes"])
        cpus = min(cpus_per_node, rng.choices([c for c, _ in CPU_SHARES], [w for _, w in CPU_SHARES])[0])
        max_seconds = slurm_duration_seconds(str(partition.get("max_time", "UNLIMITED")))
        walltimes = [w for w in WALLTIMES if max_seconds is None or w * 60 <= max_seconds] or [
            max(1, (max_seconds or 60) // 60)
        ]
        plan.append(
            PlannedJob(
                name=f"{prefix}-{name}-{index:03d}",
                partition=name,
                nodes=nodes,
                cpus=cpus,
                time_limit_minutes=rng.choice(walltimes),
                sleep_seconds=rng.randint(2, 8),
            )
        )
    return plan


def _queued(job_ids: Sequence[str]) -> set[str]:
    """Those of the jobs that Slurm still lists."""
    if not job_ids:
        return set()
    return set(job_ids) & {job.job_id for job in list_jobs(check=False, timeout=None)}


def cancel_and_wait(job_ids: Sequence[str], *, timeout: float = 60.0) -> set[str]:
    """Cancel the given jobs (ours only) and wait for them to leave the queue; return any left."""
    left = sorted(_queued(job_ids))
    cancel_jobs(left)
    wait_until_gone(left, timeout=timeout)
    return _queued(left)


def run_mix(plan: Sequence[PlannedJob], *, timeout: float, poll: float = 2.0) -> tuple[list[str], bool]:
    """Submit the plan, wait for every job to finish; cancel the rest on timeout or interrupt.

    Returns the job IDs and whether all of them finished on their own.
    """
    submitted: list[str] = []
    finished = False
    try:
        for job in plan:
            result = subprocess.run(job.sbatch_command(), capture_output=True, text=True, check=False)
            if result.returncode != 0:
                print(f"warning: {job.name} was not accepted: {result.stderr.strip()}", file=sys.stderr)
                continue
            submitted.append(result.stdout.strip().split(";")[0])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _queued(submitted):
                finished = True
                break
            time.sleep(poll)
    finally:
        left = cancel_and_wait(submitted) if not finished else set()
        if left:
            print(f"warning: jobs still queued after cancelling: {', '.join(sorted(left))}", file=sys.stderr)
    return submitted, finished
