"""CPU time, for the load run's lower bound: what one session costs the machine, and what the hub spent.

A session's cost is the machine's busy time while it runs alone (from /proc/stat: every
process, the kernel's work for them included), less the machine's background and less the
hub's own process: the server, its kernel and cell, Slurm's job steps, the spawner's commands
and the stop, but not the hub's own work, which is what the load run judges.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

BACKGROUND_SAMPLE_S = 3.0


def machine_busy_seconds() -> float:
    """CPU-seconds every core has spent on anything but waiting, since the machine started."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle, iowait = fields[3], fields[4]
    return (sum(fields[:8]) - idle - iowait) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pids: Sequence[int]) -> float:
    """The CPU time these processes have used themselves (user and system, not their children's)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def background_rate(sample_s: float = BACKGROUND_SAMPLE_S) -> float:
    """CPU-seconds per second the machine spends when nobody uses the service (daemons' timers)."""
    before = machine_busy_seconds()
    time.sleep(sample_s)
    return max(0.0, (machine_busy_seconds() - before) / sample_s)


def session_cost(
    session: Callable[[], object], hub_pids: Callable[[], Sequence[int]], background: float
) -> float:
    """The machine's busy time while `session` runs alone, less the background and the hub's own."""
    hub = hub_pids()
    busy_before, hub_before, started = machine_busy_seconds(), process_cpu_seconds(hub), time.monotonic()
    session()
    wall = time.monotonic() - started
    busy, hub_used = machine_busy_seconds() - busy_before, process_cpu_seconds(hub) - hub_before
    return max(0.0, busy - background * wall - hub_used)
