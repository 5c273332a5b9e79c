"""The reference site's Slurm jobs: list them, tell kernels apart, cancel them and wait."""

from __future__ import annotations

import time
from dataclasses import dataclass

from hpc_handbook.reference_site.paths import ReferenceSiteError
from hpc_handbook.reference_site.system import run

#: Every kernel job's name starts with this, so kernels are told apart from other jobs.
KERNEL_JOB_PREFIX = "jupyter-kernel-"


@dataclass(frozen=True)
class SlurmJob:
    job_id: str
    name: str
    comment: str
    state: str
    partition: str
    user: str = ""

    @property
    def is_kernel(self) -> bool:
        return self.name.startswith(KERNEL_JOB_PREFIX)


def slurm_jobs(comment: str | None = None) -> list[SlurmJob]:
    """Jobs Slurm still knows (pending, running, completing); only those with `comment` if given."""
    result = run(["squeue", "--noheader", "--format=%i\t%j\t%k\t%T\t%P\t%u"], check=False)
    if result.returncode != 0:
        raise ReferenceSiteError(f"squeue failed: {result.stderr.strip()}")
    jobs = []
    for line in result.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) != 6:
            continue
        job = SlurmJob(*(field.strip() for field in fields))
        # squeue shows a missing comment as "(null)".
        if comment is None or job.comment == comment:
            jobs.append(job)
    return jobs


def cancel_jobs(comment: str | None = None, *, wait_s: float = 30) -> list[SlurmJob]:
    """Cancel the jobs with `comment` (all jobs if None) and wait until Slurm lets them go."""
    jobs = slurm_jobs(comment)
    if jobs:
        run(["scancel", "--quiet", *(job.job_id for job in jobs)], check=False)
    deadline = time.monotonic() + wait_s
    while slurm_jobs(comment) and time.monotonic() < deadline:
        time.sleep(0.5)
    return jobs
