"""The caller's podman containers that kernels started, found by the label their launcher gives them.

A container kernel's launcher labels its container with $HANDBOOK_KERNEL_JOB_COMMENT, as a
Slurm kernel's job carries it as its comment: so a run finds and removes what its kernels
left, even when their launchers were killed. Nothing here needs podman to be installed.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable

#: The label the container kernel launcher (reference_site/container_kernel_launcher.py) sets.
COMMENT_LABEL = "org.hpc-handbook.comment"


def _podman(*arguments: str, timeout: float = 30) -> subprocess.CompletedProcess[str] | None:
    if shutil.which("podman") is None:
        return None
    try:
        return subprocess.run(
            ["podman", *arguments], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return None


def labelled_containers(matches: Callable[[str], bool]) -> list[str]:
    """Names of the caller's containers, running or not, whose comment label `matches`."""
    listed = _podman(
        "ps",
        "--all",
        "--filter",
        f"label={COMMENT_LABEL}",
        "--format",
        f'{{{{.Names}}}}\t{{{{index .Labels "{COMMENT_LABEL}"}}}}',
    )
    if listed is None or listed.returncode != 0:
        return []
    names = []
    for line in listed.stdout.splitlines():
        name, _, comment = line.partition("\t")
        if name and matches(comment):
            names.append(name)
    return names


def containers_with_comment(comment: str) -> list[str]:
    return labelled_containers(lambda label: label == comment)


def remove_containers(names: list[str]) -> None:
    if names:
        _podman("rm", "--force", "--ignore", "--time", "0", *names, timeout=60)


def ensure_containers_gone(comment: str, *, timeout: float = 15.0) -> list[str]:
    """Wait for the containers labelled `comment` to go with their kernels; remove any that linger.

    Returns the names that were still there when removed (normally none).
    """
    deadline = time.monotonic() + timeout
    while (left := containers_with_comment(comment)) and time.monotonic() < deadline:
        time.sleep(0.5)
    remove_containers(left)
    return left
