"""The reference site's Slurm jobs: list them, tell kernels apart, cancel them and wait.

Finding and cancelling jobs is `hpc_handbook.slurm`'s; here what Slurm could not do
becomes a site error.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from hpc_handbook import slurm
from hpc_handbook.reference_site.paths import ReferenceSiteError
from hpc_handbook.slurm import SlurmJob


@contextmanager
def _as_site_error() -> Iterator[None]:
    try:
        yield
    except slurm.SlurmError as error:
        raise ReferenceSiteError(str(error)) from None


def slurm_jobs(comment: str | None = None) -> list[SlurmJob]:
    """Jobs Slurm still knows (pending, running, completing); only those with `comment` if given."""
    with _as_site_error():
        return slurm.list_jobs(comment)


def cancel_jobs(comment: str | None = None, *, wait_s: float = 30) -> list[SlurmJob]:
    """Cancel the jobs with `comment` (all jobs if None) and wait until Slurm lets them go."""
    jobs = slurm_jobs(comment)
    with _as_site_error():
        slurm.cancel_jobs([job.job_id for job in jobs], timeout=120)
    deadline = time.monotonic() + wait_s
    while slurm_jobs(comment) and time.monotonic() < deadline:
        time.sleep(0.5)
    return jobs
