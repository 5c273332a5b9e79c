"""Find processes by a variable in their environment: how every run tags what it starts.

Kernels, launchers and `srun` clients inherit their starter's environment, so a tag set
there finds them even after their starter was killed, or inside a Slurm job.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path


def environment_value(pid: int, name: str) -> str | None:
    """The value of one variable in a process's environment, or None (unset, gone, or not ours to read)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    marker = f"{name}=".encode()
    for entry in raw.split(b"\0"):
        if entry.startswith(marker):
            return entry[len(marker) :].decode(errors="replace")
    return None


def processes_tagged(name: str, matches: Callable[[str], bool]) -> list[int]:
    """PIDs, other than this process, whose variable `name` has a value that `matches` accepts."""
    own = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        value = environment_value(int(entry.name), name)
        if value is not None and matches(value):
            found.append(int(entry.name))
    return found


def is_running(pid: int) -> bool:
    """Whether the process exists and is not a zombie (an ended daemon nobody reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def terminate(pids: list[int], *, grace: float) -> None:
    """Ask the processes to end (SIGTERM); after `grace` seconds, kill those still running."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(is_running(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if is_running(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
