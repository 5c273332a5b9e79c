"""Notice within seconds when a Slurm daemon stops answering during a run, and fail what needs it.

Without the watch, an example whose Slurm requests can no longer be answered waits until its
timeout, and its reason names no daemon. While an example that uses Slurm is in flight, the
watch asks every few seconds: does munged issue credentials on this machine, does slurmctld
answer `scontrol ping`, does the slurmd of each node where the run's jobs run accept a
connection? Two misses in a row fail the examples that need that daemon, with its name. It
uses only what a login node has (the munge and Slurm clients), so it works on any site.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

from hpc_handbook.profile import expand_hostlist
from hpc_handbook.slurm import parse_scontrol_oneliner

POLL_S = 3.0
#: Misses in a row before the examples fail: one slow answer on a busy login node is not an outage.
STRIKES = 2
TIMEOUT_S = 10.0
_JOB_FORMAT = "%i\t%u\t%P\t%Z\t%k\t%N"


@dataclass(frozen=True)
class InFlight:
    """An example the runner is executing now, as the watch needs to know it."""

    example: str
    #: The partition its kernel or server runs on; None on the login node.
    partition: str | None
    uses_slurm: bool
    #: Its working folder's name below the run's folder, or the start of it (ending in `-`).
    folder: str


@dataclass(frozen=True)
class RunJob:
    job_id: str
    user: str
    partition: str
    workdir: str
    comment: str
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class Outage:
    daemon: str
    detail: str
    node: str | None = None

    @property
    def reason(self) -> str:
        if self.daemon == "munged":
            return (
                f"munged does not answer on this machine ({self.detail}): Slurm cannot authenticate requests"
            )
        if self.daemon == "slurmctld":
            return f"slurmctld does not answer ({self.detail}): Slurm takes no requests"
        return (
            f"slurmd on node {self.node} does not answer ({self.detail}), and this example's job runs there"
        )


def _run(command: Sequence[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes] | None:
    try:
        return subprocess.run(list(command), input=stdin, capture_output=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def munge_problem() -> str | None:
    """Why munged issues no credential here, or None (also where this machine has no munge)."""
    if shutil.which("munge") is None or shutil.which("unmunge") is None:
        return None
    credential = _run(["munge", "-n"])
    if credential is None or credential.returncode != 0:
        return "munge -n: " + (
            credential.stderr.decode(errors="replace").strip() if credential else "no answer"
        )
    decoded = _run(["unmunge"], stdin=credential.stdout)
    if decoded is None or decoded.returncode != 0:
        return "unmunge: " + (decoded.stderr.decode(errors="replace").strip() if decoded else "no answer")
    return None


def slurmctld_problem() -> str | None:
    answer = _run(["scontrol", "ping"])
    if answer is None:
        return f"scontrol ping: no answer within {TIMEOUT_S:.0f} s"
    text = (answer.stdout + answer.stderr).decode(errors="replace").strip()
    # One controller that answers is enough: a backup controller that is down fails `ping` too.
    return None if " is UP" in text else f"scontrol ping: {' '.join(text.split()) or 'failed'}"


def slurmd_problem(address: str, port: int) -> str | None:
    try:
        with socket.create_connection((address, port), timeout=2):
            return None
    except OSError as error:
        return f"{address}:{port}: {error.strerror or 'no answer within 2 s'}"


def parse_jobs(text: str) -> list[RunJob]:
    jobs = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) == 6:
            nodes = tuple(expand_hostlist(fields[5].strip())) if fields[5].strip() else ()
            job_id, user, partition, workdir, comment = (f.strip() for f in fields[:5])
            jobs.append(RunJob(job_id, user, partition, workdir, comment, nodes))
    return jobs


def list_jobs() -> list[RunJob]:
    answer = _run(["squeue", "--noheader", "--states=running", f"--format={_JOB_FORMAT}"])
    return parse_jobs(answer.stdout.decode(errors="replace")) if answer and answer.returncode == 0 else []


def node_endpoint(node: str) -> tuple[str, int] | None:
    """Where the node's slurmd listens, from `scontrol show node`."""
    answer = _run(["scontrol", "show", "node", node, "--oneliner"])
    if answer is None or answer.returncode != 0:
        return None
    for settings in parse_scontrol_oneliner(answer.stdout.decode(errors="replace")):
        if settings.get("NodeName") == node and settings.get("Port", "").isdigit():
            return settings.get("NodeAddr") or node, int(settings["Port"])
    return None


def owner_of(folder: str, in_flight: dict[int, InFlight]) -> int | None:
    """The example whose working folder this is: the longest name that fits."""
    fits = [
        (len(f.folder), index)
        for index, f in in_flight.items()
        if folder == f.folder or (f.folder.endswith("-") and folder.startswith(f.folder))
    ]
    return max(fits)[1] if fits else None


def affected(
    outage: Outage, in_flight: dict[int, InFlight], jobs: list[RunJob], *, workroot: str
) -> set[int]:
    """The examples in flight that an outage fails: all that use Slurm, or those with a job on the node."""
    if outage.node is None:
        return {index for index, f in in_flight.items() if f.uses_slurm}
    hit: set[int] = set()
    for job in jobs:
        if outage.node not in job.nodes:
            continue
        if job.workdir.startswith(workroot.rstrip("/") + "/"):
            owner = owner_of(job.workdir[len(workroot.rstrip("/")) + 1 :].split("/")[0], in_flight)
            hit |= {owner} if owner is not None else set()
        else:
            # A server job of the run: every example running in that server is in it.
            hit |= {i for i, f in in_flight.items() if f.partition == job.partition}
    return hit


@dataclass
class SiteWatch:
    """The daemons the in-flight examples need, watched while the run lasts."""

    #: The run's folder; jobs submitted from below it are the run's.
    workroot: str
    run_id: str
    #: Through the hub, the doc CI's account: all its jobs are the run's.
    user: str | None = None
    #: Every job of the run by its index, as the watch needs to know it once it is in flight.
    plan: dict[int, InFlight] = field(default_factory=dict)
    poll_s: float = POLL_S
    in_flight: dict[int, InFlight] = field(default_factory=dict)
    tasks: dict[int, asyncio.Task[object]] = field(default_factory=dict)
    reasons: dict[int, str] = field(default_factory=dict)
    _strikes: dict[tuple[str, str | None], int] = field(default_factory=dict)
    _endpoints: dict[str, tuple[str, int] | None] = field(default_factory=dict)

    def register(self, index: int) -> None:
        """The calling task runs job `index` now: an outage may cancel it."""
        task = asyncio.current_task()
        if index in self.plan and task is not None:
            self.in_flight[index], self.tasks[index] = self.plan[index], task

    def unregister(self, index: int) -> None:
        self.in_flight.pop(index, None)
        self.tasks.pop(index, None)

    def _owned(self, job: RunJob) -> bool:
        under = job.workdir.startswith(self.workroot.rstrip("/") + "/")
        return under or job.comment == self.run_id or (self.user is not None and job.user == self.user)

    def outages(self) -> tuple[list[Outage], list[RunJob]]:
        """The daemons that do not answer now, and the run's running jobs (blocking: run it in a thread)."""
        problem = munge_problem()
        if problem:
            return [Outage("munged", problem)], []
        problem = slurmctld_problem()
        if problem:
            return [Outage("slurmctld", problem)], []
        jobs = [job for job in list_jobs() if self._owned(job)]
        found = []
        for node in sorted({node for job in jobs for node in job.nodes}):
            if node not in self._endpoints:
                self._endpoints[node] = node_endpoint(node)
            endpoint = self._endpoints[node]
            detail = slurmd_problem(*endpoint) if endpoint else None
            if detail:
                found.append(Outage("slurmd", detail, node))
        return found, jobs

    def judge(self, outages: list[Outage], jobs: list[RunJob]) -> dict[int, str]:
        """The examples to fail now, with their reasons: those an outage seen STRIKES times in a row hits."""
        seen = {(o.daemon, o.node) for o in outages}
        self._strikes = {key: self._strikes.get(key, 0) + 1 for key in seen}
        failing: dict[int, str] = {}
        for outage in outages:
            if self._strikes[(outage.daemon, outage.node)] >= STRIKES:
                for index in affected(outage, self.in_flight, jobs, workroot=self.workroot):
                    failing.setdefault(index, outage.reason)
        return failing

    async def run(self) -> None:
        """Watch until cancelled; fail (cancel) the examples an outage hits, keeping the reason."""
        while True:
            await asyncio.sleep(self.poll_s)
            if not any(f.uses_slurm for f in self.in_flight.values()):
                self._strikes.clear()
                continue
            outages, jobs = await asyncio.to_thread(self.outages)
            for index, reason in self.judge(outages, jobs).items():
                if index in self.tasks and index not in self.reasons:
                    self.reasons[index] = reason
                    self.tasks[index].cancel()
