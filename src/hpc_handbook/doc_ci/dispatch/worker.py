"""A doc CI worker job, `python -m hpc_handbook.doc_ci.dispatch.worker RUN_DIR`, for `--dispatch slurm`.

It claims queued runs from the run folder one at a time, each by renaming its queue file
(atomic, so two workers never take the same run), executes it exactly as the login side
would with the site's login environment for a new account, and writes the verdict back
with its node. Its kernels carry a run id of its own, so ending them never touches another
worker's. SIGTERM (`scancel`, or the job's time limit) ends its kernels before it exits.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from hpc_handbook.doc_ci.dispatch.jobs import (
    CLAIMED,
    MANIFEST,
    QUEUE,
    READY,
    RESULTS,
    START_TOGETHER_TIMEOUT_S,
    Manifest,
    QueuedRun,
    Share,
    claimed_name,
    queue_name,
)
from hpc_handbook.doc_ci.run import cleanup
from hpc_handbook.doc_ci.run.execute import ExecutionContext, JobResult, execute_example
from hpc_handbook.doc_ci.run.runner import execution_context
from hpc_handbook.examples.contract import Example, discover_examples
from hpc_handbook.login_environment import new_home
from hpc_handbook.profile import Profile
from hpc_handbook.profile.loading import parse_profile


def claim_next(run_dir: Path, job_id: str, share: Share | None = None) -> QueuedRun | None:
    """Take the first queued run no other worker has taken, from this worker's share first;
    None once the queue is empty."""
    for index in (share or Share()).order([int(path.stem) for path in (run_dir / QUEUE).glob("*.json")]):
        claimed = run_dir / CLAIMED / claimed_name(index, job_id)
        try:
            (run_dir / QUEUE / queue_name(index)).rename(
                claimed
            )  # first, then read: until then another worker may take it
        except FileNotFoundError:  # another worker renamed it first
            continue
        return QueuedRun.model_validate_json(claimed.read_text(encoding="utf-8"))
    return None


def write_result(run_dir: Path, index: int, result: JobResult) -> None:
    """Write a verdict so the login side never reads half of it: a rename on the same filesystem."""
    final = run_dir / RESULTS / f"{index:05d}.json"
    partial = final.with_name(f".{final.name}.partial")
    partial.write_text(result.model_dump_json(), encoding="utf-8")
    partial.rename(final)


async def _work(
    run_dir: Path,
    share: Share,
    identity: tuple[str, str, str],
    examples: dict[str, Example],
    context: ExecutionContext,
) -> None:
    """Claim and run until the queue is empty; one coroutine per slot of the worker."""
    job_id, node, partition = identity
    while (queued := claim_next(run_dir, job_id, share)) is not None:
        example = examples[queued.example]
        try:
            result = await execute_example(example, queued.kernel, context, job_index=queued.index)
        except Exception as error:  # one broken example must not end the worker
            reason = f"the worker could not execute it: {type(error).__name__}: {error}"
            result = JobResult.for_example(example, queued.kernel, "failed", reason)
        result.partition, result.node = partition, node
        write_result(run_dir, queued.index, result)


async def start_together(
    run_dir: Path, job_id: str, workers: int, timeout_s: float = START_TOGETHER_TIMEOUT_S
) -> int:
    """Say this worker is ready, then wait until all `workers` are or `timeout_s` has passed;
    return how many were ready."""
    (run_dir / READY / job_id).touch()
    deadline = time.monotonic() + timeout_s
    while (ready := len(list((run_dir / READY).iterdir()))) < workers and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return ready


def _slurm_identity() -> tuple[str, str, str]:
    """This job's id, node and partition; then the SLURM_* variables go, so no kernel inherits them."""
    identity = (
        os.environ.get("SLURM_JOB_ID", f"local{os.getpid()}"),
        os.environ.get("SLURMD_NODENAME", "unknown"),
        os.environ.get("SLURM_JOB_PARTITION", ""),
    )
    for name in [n for n in os.environ if n.startswith("SLURM")]:
        del os.environ[name]
    return identity


def _load(run_dir: Path) -> tuple[Manifest, Profile, dict[str, Example]]:
    manifest = Manifest.model_validate_json((run_dir / MANIFEST).read_text(encoding="utf-8"))
    profile = parse_profile(manifest.profile, file=run_dir / MANIFEST)
    examples = discover_examples(Path(manifest.examples_dir), profile, None)
    return manifest, profile, {e.name: e for e in examples}


def run_worker(run_dir: Path, share: Share) -> int:
    identity = _slurm_identity()
    manifest, profile, examples = _load(run_dir)
    run_id = cleanup.new_run_id()
    sanitize_rules = Path(manifest.sanitize_rules) if manifest.sanitize_rules else None
    with (
        tempfile.TemporaryDirectory(prefix=cleanup.workroot_prefix(run_id)) as workroot,
        tempfile.TemporaryDirectory(prefix="hb-home-") as home_root,
    ):
        context = execution_context(
            profile,
            Path(manifest.examples_dir),
            run_id,
            sanitize_rules,
            None,
            workroot=workroot,
            home=new_home(Path(home_root)),
        )

        async def every_slot() -> None:
            await start_together(run_dir, identity[0], share.of)
            slots = range(manifest.workers_per_node)
            await asyncio.gather(*(_work(run_dir, share, identity, examples, context) for _ in slots))

        loop = asyncio.new_event_loop()
        main = loop.create_task(every_slot())
        loop.add_signal_handler(signal.SIGTERM, main.cancel)
        try:
            loop.run_until_complete(main)
        except asyncio.CancelledError:
            return 143
        finally:
            loop.close()
            cleanup.end_run(run_id)
    return 0


if __name__ == "__main__":
    sys.exit(run_worker(Path(sys.argv[1]), Share(rank=int(sys.argv[2]), of=int(sys.argv[3]))))
