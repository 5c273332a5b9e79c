"""Leave nothing behind: find and end the kernels, Slurm jobs and containers a run started.

Every kernel a run starts carries the run's id in its environment, and every Slurm
job the run causes carries it as its comment. That finds kernels whose manager was
killed, kernels inside jobs whose `srun` client was killed (which does not end them),
and what an earlier run that was itself killed left behind. A container kernel's
container carries the run's id as a label, and goes the same way.
"""

from __future__ import annotations

import os
import re

from hpc_handbook.containers import labelled_containers, remove_containers
from hpc_handbook.doc_ci.run.execute import RUN_ID_ENV
from hpc_handbook.processes import is_running, processes_tagged, terminate
from hpc_handbook.slurm import SlurmError, cancel_jobs, list_jobs, wait_until_gone

RUN_ID_PATTERN = re.compile(r"handbook-ci:(\d+)-[0-9a-f]{8}")
WORKDIR_PATTERN = re.compile(r"handbook-run-(\d+-[0-9a-f]{8})-")


def new_run_id() -> str:
    return f"handbook-ci:{os.getpid()}-{os.urandom(4).hex()}"


def _is_stale(run_id: str) -> bool:
    match = RUN_ID_PATTERN.fullmatch(run_id)
    return match is not None and not is_running(int(match.group(1)))


def processes_of_run(run_id: str | None) -> list[int]:
    """PIDs whose environment carries the run id (or, with None, any run whose runner is gone)."""
    if run_id is None:
        return processes_tagged(RUN_ID_ENV, _is_stale)
    return processes_tagged(RUN_ID_ENV, lambda tagged: tagged == run_id)


def _run_of_workdir(workdir: str) -> str | None:
    """The run id a working folder belongs to: each run's examples work below `handbook-run-<id>-…`."""
    match = WORKDIR_PATTERN.search(workdir)
    return f"handbook-ci:{match.group(1)}" if match else None


def jobs_of_run(run_id: str | None) -> list[str]:
    """Slurm job ids the run caused (or, with None, any run whose runner is gone).

    A kernel's own allocation carries the run id as its comment. A job that an example
    submits itself (sbatch in a cell) cannot be tagged that way, since sbatch has no
    environment variable for the comment, but it was submitted from the example's working
    folder, which lies in the run's own temporary folder.
    """
    jobs = []
    for job in list_jobs(check=False, timeout=30):
        owners = {owner for owner in (job.comment, _run_of_workdir(job.workdir)) if owner}
        if (run_id is not None and run_id in owners) or (
            run_id is None and any(_is_stale(o) for o in owners)
        ):
            jobs.append(job.job_id)
    return jobs


def containers_of_run(run_id: str | None) -> list[str]:
    """The caller's containers the run's kernels started (or, with None, any run's whose runner is gone)."""
    if run_id is None:
        return labelled_containers(_is_stale)
    return labelled_containers(lambda label: label == run_id)


def workroot_prefix(run_id: str) -> str:
    return f"handbook-run-{run_id.removeprefix('handbook-ci:')}-"


def end_run(run_id: str | None, *, grace: float = 3.0) -> tuple[list[str], list[int]]:
    """Cancel the run's jobs and end its kernel processes; return what was ended.

    SlurmError when Slurm does not answer; the kernel processes are ended all the same.
    """
    try:
        jobs = jobs_of_run(run_id)
    except SlurmError:
        terminate(processes_of_run(run_id), grace=grace)
        raise
    cancel_jobs(jobs, timeout=30)
    pids = processes_of_run(run_id)
    terminate(pids, grace=grace)
    remove_containers(containers_of_run(run_id))
    if jobs:
        # Wait until Slurm has really ended them, so "after the run, squeue is empty" holds.
        wait_until_gone(jobs, timeout=30)
    return jobs, pids
