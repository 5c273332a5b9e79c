"""What a run will do, before it starts: every (example, kernel) as a job, those the site cannot
run skipped with the reason, those on a partition that is down failed at once, the order,
which jobs a worker on a compute node may take, and the plan the runner works to (`RunPlan`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from hpc_handbook.doc_ci.run.execute import JobResult
from hpc_handbook.doc_ci.run.site_watch import InFlight
from hpc_handbook.doc_ci.run.through_hub import HubRun
from hpc_handbook.doc_ci.run.workspace import Keeper
from hpc_handbook.examples.contract import Example
from hpc_handbook.profile import Profile
from hpc_handbook.slurm import partition_availability


@dataclass(frozen=True)
class Job:
    example: Example
    kernel: str
    #: Lower starts sooner (`run_examples`' `first`); within one rank, longest timeouts first.
    rank: int = 0
    #: The JupyterLab environment of the server it runs in; None: the spawn form's default.
    environment: str | None = None


def plan_jobs(
    examples: list[Example], capabilities: dict[str, str | None], environments: Sequence[str] = ()
) -> tuple[list[Job], list[JobResult]]:
    """Every (example, kernel) to run, and a skip verdict, saying what the site lacks, for the others."""
    jobs, skipped = [], []
    for example in examples:
        # A capability the site has maps to None; one it lacks, or cannot detect, to the reason.
        missing = [
            reason
            for c in example.meta.requires
            if (reason := capabilities.get(c, f"{c}: this runner cannot detect it")) is not None
        ]
        missing += [f"the site profile gives no value for {name}" for name in example.missing_parameters]
        for selector, reason in example.missing_kernels:
            skipped.append(JobResult.for_example(example, selector, "skipped", reason))
        for kernel in example.kernels:
            if missing:
                skipped.append(JobResult.for_example(example, kernel, "skipped", "; ".join(missing)))
            else:
                jobs.append(Job(example, kernel))
                # What a new user runs first must work in every environment the form offers.
                if example.meta.audience == "novice":
                    jobs += [Job(example, kernel, environment=name) for name in environments]
    return jobs, skipped


def put_first(jobs: list[Job], first: Sequence[str]) -> list[Job]:
    """Rank the jobs of the examples `first` names in that order, ahead of every other job."""
    ranks = {name: rank for rank, name in enumerate(first)}
    return [replace(j, rank=ranks.get(j.example.name, len(ranks))) for j in jobs]


def needed_partition(job: Job, profile: Profile) -> str | None:
    """The partition a job's kernel must be allocated on, if any."""
    if job.example.partition is not None:
        return job.example.partition
    kernel = next((k for k in profile.kernels if k.name == job.kernel), None)
    return kernel.partition if kernel is not None and kernel.start == "slurm" else None


def fail_jobs_on_unavailable_partitions(
    jobs: list[Job], profile: Profile
) -> tuple[list[Job], list[JobResult]]:
    """Fail at once what would wait forever for a partition that is down, with that as the reason."""
    wanted = {p for p in (needed_partition(job, profile) for job in jobs) if p}
    availability = partition_availability(wanted)
    runnable, failed = [], []
    for job in jobs:
        partition = needed_partition(job, profile)
        state = availability.get(partition, "up") if partition else "up"
        if state == "up":
            runnable.append(job)
            continue
        reason = f"partition {partition!r} is not available at this site (Slurm says: {state})"
        failed.append(JobResult.for_example(job.example, job.kernel, "failed", reason, partition=partition))
    return runnable, failed


def dispatchable(job: Job, profile: Profile) -> bool:
    """Whether a worker job on a compute node may run it: no output depends on the node, and
    its kernel needs no allocation of its own (an `srun` inside a worker's job would share it)."""
    return (
        job.example.meta.runs_on == "any"
        and needed_partition(job, profile) is None
        and job.environment is None  # environments are the hub's: a worker job has none
    )


def in_flight(job: Job, profile: Profile, index: int, *, through_hub: bool) -> InFlight:
    """What the site watch needs to know of a job: where it runs, whether it uses Slurm, its folder."""
    partition = needed_partition(job, profile)
    # Through the hub an example's folder is `<name>-<index>`; directly, `<name>-` and a random part.
    folder = f"{job.example.name}-{index}" if through_hub else f"{job.example.name}-"
    uses_slurm = partition is not None or "slurm" in job.example.meta.requires
    return InFlight(job.example.name, job.example.partition, uses_slurm, folder)


class RunsElsewhere(Protocol):
    """Runs the jobs it takes away from this machine while the others run here (`--dispatch slurm`)."""

    def takes(self, job: Job, profile: Profile) -> bool: ...

    async def run_elsewhere(self, jobs: list[Job], plan: RunPlan) -> list[JobResult]: ...


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """How one run works: where its examples are, its workers, its hub and what it keeps."""

    profile: Profile
    examples_dir: Path
    run_id: str
    workers: int | None
    sanitize_rules: Path | None
    on_result: Callable[[JobResult], None]
    hub: HubRun | None
    dispatch: RunsElsewhere | None = None
    keeper: Keeper | None = None
