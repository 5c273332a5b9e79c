"""Slurm as every tool sees it: parsing `scontrol` output, and finding its kernels' jobs.

A Slurm-backed kernel's job carries a comment its starter chose, so a tool can find the
jobs of its own kernels, and only those, whatever happens to the kernel.
"""

from __future__ import annotations

import shutil
import subprocess
import time


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


def jobs_with_comment(comment: str) -> list[str]:
    """IDs of the jobs Slurm still knows whose comment is `comment`."""
    if shutil.which("squeue") is None:
        return []
    result = subprocess.run(["squeue", "-h", "-o", "%i|%k"], capture_output=True, text=True, check=False)
    ids = []
    for line in result.stdout.splitlines():
        job_id, _, job_comment = line.partition("|")
        if job_comment.strip() == comment:
            ids.append(job_id.strip())
    return ids


def ensure_jobs_gone(comment: str, *, timeout: float = 30.0) -> list[str]:
    """Wait for the jobs with `comment` to end after their kernel's shutdown; cancel any that linger.

    Returns the IDs that were still there when cancelled (normally none).
    """
    deadline = time.monotonic() + timeout
    while (left := jobs_with_comment(comment)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if not left:
        return []
    subprocess.run(["scancel", "--quiet", *left], capture_output=True, check=False)
    deadline = time.monotonic() + timeout
    while jobs_with_comment(comment) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left
