"""Slurm as every tool sees it: parsing `scontrol` and `squeue` output, finding, tagging and cancelling jobs.

A Slurm-backed kernel's job carries a comment its starter chose, so a tool can find the
jobs of its own kernels, and only those, whatever happens to the kernel.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass


def parse_key_values(line: str) -> dict[str, str]:
    """Parse one `Key=Value Key=Value` line of `scontrol --oneliner` output."""
    fields: dict[str, str] = {}
    for token in line.split():
        key, sep, value = token.partition("=")
        if sep:
            fields[key] = value
    return fields


def parse_scontrol_oneliner(text: str) -> list[dict[str, str]]:
    return [parse_key_values(line) for line in text.splitlines() if "=" in line]


#: The Slurm kernel launcher puts this variable's value in its job's comment, so the probe
#: can find the jobs of its own kernels, and only those, whatever happens to the kernel.
KERNEL_JOB_COMMENT_ENV = "HANDBOOK_KERNEL_JOB_COMMENT"


#: The Slurm kernel launcher names its jobs `jupyter-kernel-<kernel>-<token>`, so kernels are
#: told apart from other jobs.
KERNEL_JOB_PREFIX = "jupyter-kernel-"

#: One job per line: id, name, comment, state, partition, user and working folder.
_SQUEUE_FORMAT = "%i\t%j\t%k\t%T\t%P\t%u\t%Z"


class SlurmError(RuntimeError):
    """A Slurm command is missing, did not answer in time, or failed; the message says which."""


@dataclass(frozen=True)
class SlurmJob:
    job_id: str
    name: str
    #: squeue shows a missing comment as "(null)".
    comment: str
    state: str
    partition: str
    user: str = ""
    #: The folder the job was submitted from.
    workdir: str = ""

    @property
    def is_kernel(self) -> bool:
        return self.name.startswith(KERNEL_JOB_PREFIX)


def parse_squeue(text: str) -> list[SlurmJob]:
    """The jobs of `squeue --noheader --format` output in `_SQUEUE_FORMAT`."""
    jobs = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) == 7:
            jobs.append(SlurmJob(*(field.strip() for field in fields)))
    return jobs


def _slurm_command(command: Sequence[str], *, timeout: float | None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError as exc:
        raise SlurmError(f"{command[0]} is not installed ({exc.strerror})") from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{shlex.join(command)} took more than {timeout:.0f} s") from None


def list_jobs(
    comment: str | None = None, *, check: bool = True, timeout: float | None = 120
) -> list[SlurmJob]:
    """Jobs Slurm still knows (pending, running, completing); only those with `comment` if given.

    SlurmError when squeue does not answer in time, and with `check` also when it is not
    installed or fails; without `check` those read as no jobs.
    """
    if not check and shutil.which("squeue") is None:
        return []
    result = _slurm_command(["squeue", "--noheader", f"--format={_SQUEUE_FORMAT}"], timeout=timeout)
    if check and result.returncode != 0:
        raise SlurmError(f"squeue failed: {result.stderr.strip()}")
    return [job for job in parse_squeue(result.stdout) if comment is None or job.comment == comment]


def jobs_with_comment(comment: str) -> list[str]:
    """IDs of the jobs Slurm still knows whose comment is `comment`."""
    return [job.job_id for job in list_jobs(comment, check=False, timeout=None)]


def cancel_jobs(job_ids: Sequence[str], *, timeout: float | None = 30) -> None:
    """Ask Slurm to end these jobs; those already gone are no error."""
    if job_ids:
        _slurm_command(["scancel", "--quiet", *job_ids], timeout=timeout)


def wait_until_gone(job_ids: Sequence[str], *, timeout: float) -> None:
    """Wait until Slurm lists none of these jobs any more, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _still_listed(job_ids):
        time.sleep(0.1)


def _still_listed(job_ids: Sequence[str]) -> bool:
    return bool(set(job_ids) & {job.job_id for job in list_jobs(check=False, timeout=None)})


def cancel_jobs_named(name: str) -> None:
    """End every job of this name that the caller may cancel; nothing without Slurm."""
    if shutil.which("scancel"):
        _slurm_command(["scancel", "--quiet", f"--name={name}"], timeout=30)


def cancel_jobs_of_user(user: str) -> None:
    """End every job of this account; nothing without Slurm."""
    if shutil.which("scancel"):
        _slurm_command(["scancel", "--quiet", f"--user={user}"], timeout=30)


def ensure_jobs_gone(comment: str, *, timeout: float = 30.0) -> list[str]:
    """Wait for the jobs with `comment` to end after their kernel's shutdown; cancel any that linger.

    Returns the IDs that were still there when cancelled (normally none).
    """
    deadline = time.monotonic() + timeout
    while (left := jobs_with_comment(comment)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if not left:
        return []
    cancel_jobs(left, timeout=None)
    deadline = time.monotonic() + timeout
    while jobs_with_comment(comment) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def partition_availability(names: set[str]) -> dict[str, str]:
    """Each partition's availability as Slurm reports it ("up", "down", "drain", "inact", or "missing")."""
    if not names or shutil.which("sinfo") is None:
        return {name: "missing" for name in names}
    listing = _slurm_command(["sinfo", "--noheader", "--format=%R %a"], timeout=30)
    found = dict(line.split() for line in listing.stdout.splitlines() if len(line.split()) == 2)
    return {name: found.get(name, "missing") for name in names}


def slurm_config() -> dict[str, str]:
    """`scontrol show config` as a dict (empty when Slurm does not answer)."""
    if shutil.which("scontrol") is None:
        return {}
    result = _slurm_command(["scontrol", "show", "config"], timeout=60)
    config = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            config[key.strip()] = value.strip()
    return config
