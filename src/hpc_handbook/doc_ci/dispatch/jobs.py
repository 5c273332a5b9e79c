"""`--dispatch slurm`: run the examples that may run anywhere as Slurm jobs on the doc CI's nodes.

The login side writes one queue file per (example, kernel) into a run folder, submits one
worker job per node (`python -m hpc_handbook.doc_ci.dispatch.worker`) and gathers the verdicts the
workers write back. A worker claims a queued run by renaming its file, which is atomic on
one filesystem, so no run executes twice; the folder must lie on a filesystem the nodes
share (on the reference site every node is this machine). What an ended worker had claimed
but not finished fails with its node named. Once every verdict is in, or on interrupt, the
workers are cancelled and the run waits until Slurm has ended them.
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from hpc_handbook.doc_ci.run.cleanup import workroot_prefix
from hpc_handbook.doc_ci.run.execute import JobResult
from hpc_handbook.doc_ci.run.planning import Job, RunPlan, dispatchable
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.examples.contract import Example
from hpc_handbook.profile import Profile
from hpc_handbook.slurm import cancel_jobs, list_jobs, wait_until_gone

MANIFEST = "manifest.json"
QUEUE, CLAIMED, RESULTS, LOGS, READY = "queue", "claimed", "results", "logs", "ready"
WORKER_JOB_NAME = "handbook-ci-worker"
#: Slurm node states in which a node takes new jobs (`sinfo %t`, without its `*~#` suffixes).
TAKES_JOBS = {"idle", "mix", "alloc", "comp"}
#: How often the login side looks for verdicts, and how often it asks Slurm about its workers.
RESULT_POLL_S, WORKER_POLL_S = 0.2, 2.0
#: A worker job that Slurm has not started by then will not start soon: its runs fail with why.
WORKER_START_TIMEOUT_S = 600.0
#: How long a started worker waits for the others before it claims anything: Slurm starts them
#: seconds apart, and one that began first would take more than its share. A worker that has not
#: started by then is not waited for.
START_TOGETHER_TIMEOUT_S = 10.0


class DispatchError(RuntimeError):
    """Slurm refused a worker job; the message says which and why."""


@dataclass(frozen=True)
class DispatchTarget:
    """One worker job: the node it runs on, and the partition that node belongs to."""

    partition: str
    node: str
    cpus: int


class QueuedRun(BaseModel):
    """One (example, kernel) waiting for a worker; `index` names its files."""

    index: int
    example: str
    kernel: str


class Manifest(BaseModel):
    """What every worker of one dispatched run reads before it claims anything."""

    run_id: str
    profile: dict[str, Any]  # the site profile, as the login side loaded it
    examples_dir: str
    sanitize_rules: str | None
    workers_per_node: int


def queue_name(index: int) -> str:
    return f"{index:05d}.json"


def claimed_name(index: int, job_id: str) -> str:
    """A claimed run's file names the worker job that took it, so a lost worker's runs are known."""
    return f"{index:05d}@{job_id}.json"


def partition_nodes(partition: str) -> list[DispatchTarget]:
    """The partition's nodes that take jobs, in Slurm's order."""
    listed = subprocess.run(
        ["sinfo", "--noheader", "--Node", f"--partition={partition}", "--format=%N %t %c"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    targets: list[DispatchTarget] = []
    for line in listed.splitlines():
        node, state, cpus = line.split()
        if state.rstrip("*~#!%$@^-") in TAKES_JOBS and node not in {t.node for t in targets}:
            targets.append(DispatchTarget(partition=partition, node=node, cpus=int(cpus)))
    return targets


def dispatch_targets(profile: Profile, count: int | None, *, profile_file: str) -> list[DispatchTarget]:
    """`count` nodes (None: the profile's `dispatch_nodes`, else all) of the doc CI's partition."""
    partition = profile.doc_ci.dispatch_partition
    if partition is None:
        raise HandbookInputError(
            profile_file,
            "doc_ci.dispatch_partition",
            "expected the partition whose nodes run the doc CI's worker jobs (`--dispatch slurm` needs it)",
        )
    nodes = partition_nodes(partition)
    # Bad input names where the count came from: the option, else the profile's key.
    file, where = ("--dispatch-nodes", "") if count is not None else (profile_file, "doc_ci.dispatch_nodes")
    count = count if count is not None else profile.doc_ci.dispatch_nodes or len(nodes)
    if not 1 <= count <= len(nodes):
        names = ", ".join(t.node for t in nodes) or "none"
        raise HandbookInputError(
            file,
            where,
            f"{count} node(s) asked, expected 1 to {len(nodes)}: partition {partition!r} has "
            f"{len(nodes)} node(s) that take jobs ({names})",
        )
    return nodes[:count]


def write_queue(run_dir: Path, manifest: Manifest, runs: list[QueuedRun]) -> None:
    for folder in (QUEUE, CLAIMED, RESULTS, LOGS, READY):
        (run_dir / folder).mkdir(parents=True, exist_ok=True)
    for run in runs:
        (run_dir / QUEUE / queue_name(run.index)).write_text(run.model_dump_json(), encoding="utf-8")
    # Written last: a worker that finds the manifest finds every queued run.
    (run_dir / MANIFEST).write_text(manifest.model_dump_json(), encoding="utf-8")


def worker_command(run_dir: Path, share: Share) -> list[str]:
    return [
        sys.executable,
        "-m",
        "hpc_handbook.doc_ci.dispatch.worker",
        str(run_dir),
        str(share.rank),
        str(share.of),
    ]


@dataclass(frozen=True)
class Share:
    """Worker `rank` of `of` takes the runs whose index leaves `rank` when divided by `of` first,
    then any: the workers start seconds apart, and an equal share each keeps them balanced."""

    rank: int = 0
    of: int = 1

    def order(self, indices: list[int]) -> list[int]:
        return sorted(indices, key=lambda index: (index % self.of != self.rank, index))


def submit_worker(
    target: DispatchTarget, run_dir: Path, *, run_id: str, workers: int, walltime: str, share: Share
) -> str:
    """Submit one worker job to its node and return its id. Not exclusive: examples placed on the
    same partition still get their own allocations beside it."""
    command = [
        "sbatch",
        "--parsable",
        f"--partition={target.partition}",
        f"--nodelist={target.node}",
        "--nodes=1",
        "--ntasks=1",
        f"--cpus-per-task={max(1, min(workers, target.cpus))}",
        f"--time={walltime}",
        f"--job-name={WORKER_JOB_NAME}",
        # The run's id, so that cleanup after this run, or after a killed one, finds the workers.
        f"--comment={run_id}",
        f"--output={run_dir / LOGS / 'worker-%j.log'}",
        f"--chdir={run_dir}",
        f"--wrap=exec {shlex.join(worker_command(run_dir, share))}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise DispatchError(f"sbatch refused the worker job for node {target.node}: {done.stderr.strip()}")
    return done.stdout.strip().split(";")[0]


@dataclass
class WorkerJobs:
    """The submitted worker jobs, and what the login side learnt about them."""

    targets: dict[str, DispatchTarget]
    submitted_at: float
    ended: set[str]
    started: bool = False

    def refresh(self) -> None:
        """Ask Slurm which workers are still there and whether any has started."""
        listed = {job.job_id: job.state for job in list_jobs(check=False, timeout=30)}
        self.ended |= {job_id for job_id in self.targets if job_id not in listed}
        self.started = self.started or any(listed.get(j) not in (None, "PENDING") for j in self.targets)

    @property
    def alive(self) -> list[str]:
        return [job_id for job_id in self.targets if job_id not in self.ended]

    def stop(self) -> None:
        """Cancel every worker and wait until Slurm lists none of them."""
        cancel_jobs(self.alive, timeout=30)
        wait_until_gone(list(self.targets), timeout=60)


def submit_workers(
    targets: list[DispatchTarget], run_dir: Path, *, run_id: str, workers: int, walltime: str
) -> WorkerJobs:
    jobs = WorkerJobs(targets={}, submitted_at=time.monotonic(), ended=set())
    try:
        for rank, target in enumerate(targets):
            share = Share(rank, len(targets))
            job_id = submit_worker(
                target, run_dir, run_id=run_id, workers=workers, walltime=walltime, share=share
            )
            jobs.targets[job_id] = target
    except BaseException:
        jobs.stop()
        raise
    return jobs


class Gatherer:
    """Collects the verdicts in the run folder, and fails what no worker will finish."""

    def __init__(self, run_dir: Path, queued: dict[int, tuple[str, str]], jobs: WorkerJobs) -> None:
        self.run_dir, self.queued, self.jobs = run_dir, queued, jobs
        self.pending = set(queued)
        self.results: list[JobResult] = []

    def collect(self, on_result: Callable[[JobResult], None]) -> None:
        for path in sorted((self.run_dir / RESULTS).glob("*.json")):
            index = int(path.stem)
            if index in self.pending:
                self.pending.discard(index)
                self._record(JobResult.model_validate_json(path.read_text(encoding="utf-8")), on_result)

    def fail_lost(
        self, fail: Callable[[int, str], JobResult], on_result: Callable[[JobResult], None]
    ) -> None:
        """Fail the runs an ended worker claimed, and all runs once no worker is left or starts."""
        for path in (self.run_dir / CLAIMED).glob("*@*.json"):
            number, job_id = path.stem.split("@")
            if int(number) in self.pending and job_id in self.jobs.ended:
                node = self.jobs.targets[job_id].node
                reason = f"the doc CI worker on node {node} (Slurm job {job_id}) ended before it finished"
                reason += worker_log_tail(self.run_dir, job_id)
                self._fail(int(number), fail, reason, on_result)
        waited = time.monotonic() - self.jobs.submitted_at
        if not self.jobs.alive:
            last = max(self.jobs.ended, key=int)
            reason = "every doc CI worker job ended before it ran" + worker_log_tail(self.run_dir, last)
        elif not self.jobs.started and waited > WORKER_START_TIMEOUT_S:
            reason = f"no doc CI worker job started within {WORKER_START_TIMEOUT_S:.0f} s"
        else:
            return
        for index in sorted(self.pending):
            self._fail(index, fail, reason, on_result)

    def _fail(
        self,
        index: int,
        fail: Callable[[int, str], JobResult],
        reason: str,
        on_result: Callable[[JobResult], None],
    ) -> None:
        self.pending.discard(index)
        self._record(fail(index, reason), on_result)

    def _record(self, result: JobResult, on_result: Callable[[JobResult], None]) -> None:
        self.results.append(result)
        on_result(result)


async def gather(
    gatherer: Gatherer, fail: Callable[[int, str], JobResult], on_result: Callable[[JobResult], None]
) -> None:
    """Poll the run folder until every queued run has its verdict; Slurm only every few seconds."""
    last_asked = time.monotonic()
    while gatherer.pending:
        gatherer.collect(on_result)
        if gatherer.pending and time.monotonic() - last_asked >= WORKER_POLL_S:
            await asyncio.to_thread(gatherer.jobs.refresh)
            last_asked = time.monotonic()
            # A worker writes its verdict before it ends: read them again before failing anything.
            gatherer.collect(on_result)
            gatherer.fail_lost(fail, on_result)
        await asyncio.sleep(RESULT_POLL_S)


def worker_log_tail(run_dir: Path, job_id: str, lines: int = 5) -> str:
    """The last lines a worker job printed, to say why it ended; empty when it printed nothing."""
    try:
        text = (run_dir / LOGS / f"worker-{job_id}.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return ("; its log ends:\n" + "\n".join(tail)) if tail else ""


@dataclass(frozen=True)
class DispatchSetup:
    """Where and how one run's dispatched examples go."""

    targets: list[DispatchTarget]
    workers_per_node: int
    walltime: str
    #: Where the run folder is made: on a real site, a filesystem every node mounts.
    run_root: Path

    def takes(self, job: Job, profile: Profile) -> bool:
        return dispatchable(job, profile)

    async def run_elsewhere(self, jobs: list[Job], plan: RunPlan) -> list[JobResult]:
        """The runner's `RunsElsewhere`: the jobs in worker jobs on the nodes, beside the local ones."""
        # Longest timeouts first, as on the login node: workers claim the queue in this order.
        ordered = sorted(jobs, key=lambda j: (j.rank, -j.example.meta.timeout))
        manifest = Manifest(
            run_id=plan.run_id,
            profile=plan.profile.model_dump(mode="json", by_alias=True),
            examples_dir=str(plan.examples_dir.resolve()),
            sanitize_rules=str(plan.sanitize_rules.resolve()) if plan.sanitize_rules else None,
            workers_per_node=self.workers_per_node,
        )
        runs = [(job.example, job.kernel) for job in ordered]
        return await run_dispatched(runs, self, manifest, plan.on_result)


async def run_dispatched(
    runs: list[tuple[Example, str]],
    setup: DispatchSetup,
    manifest: Manifest,
    on_result: Callable[[JobResult], None],
) -> list[JobResult]:
    """Run (example, kernel) pairs in worker jobs on the setup's nodes and return their verdicts."""
    if not runs:
        return []
    setup.run_root.mkdir(parents=True, exist_ok=True)
    # The run id in the folder's name: cleanup knows the workers by the folder they run in too.
    run_dir = Path(
        tempfile.mkdtemp(prefix=f"{workroot_prefix(manifest.run_id)}dispatch-", dir=setup.run_root)
    )
    try:
        queued = [QueuedRun(index=i, example=e.name, kernel=k) for i, (e, k) in enumerate(runs)]
        write_queue(run_dir, manifest, queued)
        jobs = await asyncio.to_thread(
            submit_workers,
            setup.targets,
            run_dir,
            run_id=manifest.run_id,
            workers=setup.workers_per_node,
            walltime=setup.walltime,
        )
        try:
            gatherer = Gatherer(run_dir, {q.index: (q.example, q.kernel) for q in queued}, jobs)

            def fail(index: int, reason: str) -> JobResult:
                example, kernel = runs[index]
                return JobResult.for_example(example, kernel, "failed", reason)

            await gather(gatherer, fail, on_result)
            return gatherer.results
        finally:
            # Shielded from a second Ctrl-C: the workers must be gone before the run returns.
            await asyncio.shield(asyncio.to_thread(jobs.stop))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
