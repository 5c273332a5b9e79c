"""One `squeue` for every server's job: what the hub's Slurm spawner polls while servers start.

batchspawner asks Slurm about each server's job on its own, twice a second while it starts
(`runuser -u USER -- squeue -j ID`): with fifty servers starting at once, a hundred pairs of
processes a second, more CPU than the servers themselves needed to start (`nox -s bench`
measured it). Here one `squeue` of every job answers every spawner for QUEUE_TTL_S. It runs
as the hub's own account: what a job's state is, not what the user may do.

Standard library only: the hub imports it as `handbook_job_queue.py`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

#: Every job Slurm lists, with what batchspawner's own query prints for one: state and host.
SQUEUE_ALL = ("squeue", "--noheader", "--format=%i %T %B")
#: How long one answer serves every spawner: batchspawner's own interval between polls.
QUEUE_TTL_S = 0.5
#: What batchspawner's SlurmSpawner reads as "Slurm did not answer", not "the job is gone".
SLURM_UNREACHABLE = "slurm_load_jobs error: Unable to contact slurm controller"

Runner = Callable[[tuple[str, ...]], Awaitable[tuple[int | None, str]]]


def parse_queue(output: str) -> dict[str, str]:
    """Job id to "STATE HOST", from SQUEUE_ALL's output."""
    statuses = {}
    for line in output.splitlines():
        job_id, _, status = line.strip().partition(" ")
        if job_id:
            statuses[job_id] = status.strip()
    return statuses


class JobQueue:
    """Slurm's list of jobs, asked at most every `ttl_s` whoever polls, and never older than a poll's job."""

    def __init__(
        self, run: Runner, *, ttl_s: float = QUEUE_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._run, self._ttl_s, self._clock = run, ttl_s, clock
        self._asked_at: float | None = None
        self._answer: dict[str, str] | str = {}
        self._lock = asyncio.Lock()
        #: How many times Slurm was asked (the unit tests count them).
        self.asked = 0

    async def status(self, job_id: str) -> str:
        """What batchspawner's own query would have given: "STATE HOST"; "" for a job Slurm no
        longer lists; SLURM_UNREACHABLE, with Slurm's words, when it did not answer."""
        called = self._clock()
        async with self._lock:
            asked_at = self._asked_at
            stale = asked_at is None or called - asked_at >= self._ttl_s
            # A job missing from an answer that began before this poll may have been submitted
            # since: ask again rather than call it gone (others waiting share the new answer).
            missing = isinstance(self._answer, dict) and job_id not in self._answer
            if stale or (missing and asked_at is not None and asked_at < called):
                await self._refresh()
        if isinstance(self._answer, str):
            return self._answer
        return self._answer.get(job_id, "")

    async def _refresh(self) -> None:
        self._asked_at = self._clock()
        self.asked += 1
        code, output = await self._run(SQUEUE_ALL)
        if code == 0:
            self._answer = parse_queue(output)
        elif output.startswith("slurm_load_jobs error:"):
            self._answer = output.strip()
        else:
            self._answer = f"{SLURM_UNREACHABLE} ({output.strip() or 'squeue did not answer'})"
