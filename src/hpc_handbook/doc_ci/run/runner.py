"""Run every example on every kernel it names, concurrently, and report what drifted.

Kernel start-up dominates an example's time and is mostly waiting, so the runner keeps
about two examples in flight per core in one asyncio loop (measured by `nox -s bench`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hpc_handbook.data.examples_report import Cleanup
from hpc_handbook.doc_ci.run import cleanup
from hpc_handbook.doc_ci.run.capabilities import detect_capabilities
from hpc_handbook.doc_ci.run.execute import ExecutionContext, JobResult, execute_example
from hpc_handbook.doc_ci.run.planning import (
    Job,
    RunPlan,
    RunsElsewhere,
    fail_jobs_on_unavailable_partitions,
    in_flight,
    plan_jobs,
    put_first,
)
from hpc_handbook.doc_ci.run.site_watch import SiteWatch
from hpc_handbook.doc_ci.run.through_hub import HubRun, execute_in_server
from hpc_handbook.doc_ci.run.workspace import GB, Keeper, check_local_room, remove_for_good, tree_bytes
from hpc_handbook.examples.contract import discover_examples
from hpc_handbook.examples.sanitize import Sanitizer, load_sanitizer
from hpc_handbook.kernelspecs import SITE_JUPYTER_DATA_DIR, site_kernel_spec_manager
from hpc_handbook.login_environment import login_environment, new_home
from hpc_handbook.profile import Profile
from hpc_handbook.site_facts import site_parameters
from hpc_handbook.slurm import SlurmError

#: Downloads the examples' installs share between runs (the one thing a run does not start anew).
DOWNLOAD_CACHE = Path.home() / ".cache" / "hpc-handbook"


def default_workers() -> int:
    return 2 * (os.cpu_count() or 1)


def site_jupyter_path() -> list[str]:
    """Where the site's kernelspecs live, for tools that take a JUPYTER_PATH."""
    return [SITE_JUPYTER_DATA_DIR]


@dataclass
class RunResult:
    results: list[JobResult] = field(default_factory=list)
    executions: int = 0
    interrupted: bool = False
    sanitize: Sanitizer | None = None
    #: Where the run worked, what it removed there, and what it could not.
    cleanup: Cleanup = field(default_factory=Cleanup)

    @property
    def failed(self) -> list[JobResult]:
        return [r for r in self.results if r.status == "failed"]


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM ended the run; its clean-up is done, and `cleanup` says how it went."""

    def __init__(self, cleanup: Cleanup) -> None:
        super().__init__()
        self.cleanup = cleanup


async def _run_jobs(
    jobs: list[Job],
    context: ExecutionContext,
    workers: int,
    on_result: Callable[[JobResult], None],
    hub: HubRun | None = None,
    watch: SiteWatch | None = None,
) -> list[JobResult]:
    limit = asyncio.Semaphore(workers)
    # Without a plan the watch knows no job, so it never fails one.
    watch = watch or SiteWatch(workroot="", run_id="")

    async def one(index: int, job: Job) -> JobResult:
        async with limit:
            watch.register(index)
            try:
                if hub is not None:
                    result = await execute_in_server(
                        job.example, job.kernel, context, hub, job_index=index, environment=job.environment
                    )
                else:
                    result = await execute_example(job.example, job.kernel, context, job_index=index)
            except asyncio.CancelledError:
                if index not in watch.reasons:
                    raise  # the whole run is interrupted
                asyncio.current_task().uncancel()  # type: ignore[union-attr]
                reason = watch.reasons[index]
                result = JobResult.for_example(
                    job.example, job.kernel, "failed", reason, environment=job.environment
                )
            except Exception as error:  # one broken example must not end the run
                reason = f"the runner could not execute it: {type(error).__name__}: {error}"
                result = JobResult.for_example(
                    job.example, job.kernel, "failed", reason, environment=job.environment
                )
            finally:
                watch.unregister(index)
            on_result(result)
            return result

    # Longest timeouts first, so one slow example does not end up alone at the tail.
    order = sorted(range(len(jobs)), key=lambda i: (jobs[i].rank, -jobs[i].example.meta.timeout))
    watcher = asyncio.create_task(watch.run())
    try:
        return list(await asyncio.gather(*(one(i, jobs[i]) for i in order)))
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


def run_examples(
    *,
    profile: Profile,
    examples_dir: Path,
    names: list[str] | None = None,
    workers: int | None = None,
    sanitize_rules: Path | None = None,
    on_result: Callable[[JobResult], None] = lambda result: None,
    capabilities: dict[str, str | None] | None = None,
    through_hub: bool = False,
    first: Sequence[str] = (),
    dispatch: RunsElsewhere | None = None,
    keep_dir: Path | None = None,
    every_environment: bool = False,
) -> RunResult:
    """Execute the examples once per kernel and judge them; always leave no kernel, job or folder behind.

    `through_hub` runs them as the profile's doc-CI account in its servers on the hub (HubRunError
    when it cannot), else kernels start on this machine; either way the run checks its room first
    (NoRoomError). `keep_dir` keeps failing examples' folders; `first` starts those examples first;
    `dispatch` runs those that may run anywhere in worker jobs; `every_environment` runs novice
    examples in each other JupyterLab environment too. RunInterrupted when Ctrl-C or SIGTERM ends it.
    """
    examples = discover_examples(examples_dir, profile, names)
    found = detect_capabilities(profile, through_hub=through_hub) if capabilities is None else capabilities
    others = _other_environments(profile, every_environment and through_hub)
    jobs, skipped = plan_jobs(examples, found, others)
    jobs, unavailable = fail_jobs_on_unavailable_partitions(put_first(jobs, first), profile)
    run = RunResult(results=[*skipped, *unavailable])
    for result in run.results:
        on_result(result)
    if not jobs:
        return run
    run_id = cleanup.new_run_id()
    cleanup.end_run(None)  # what an earlier, killed run left behind
    hub = _open_workplace(run, profile, run_id, through_hub=through_hub)
    keeper = Keeper(keep_dir) if keep_dir is not None else None
    try:
        if keeper is not None:
            run.cleanup.problems += keeper.reset()
        plan = RunPlan(
            profile=profile,
            examples_dir=examples_dir,
            run_id=run_id,
            workers=workers,
            sanitize_rules=sanitize_rules,
            on_result=on_result,
            hub=hub,
            dispatch=dispatch,
            keeper=keeper,
        )
        _run_planned(run, jobs, plan)
    finally:
        if hub is not None:
            local = run.cleanup
            run.cleanup = hub.close()
            run.cleanup.problems += local.problems
    if run.interrupted:
        raise RunInterrupted(run.cleanup)
    return run


def _other_environments(profile: Profile, wanted: bool) -> list[str]:
    """The JupyterLab environments the spawn form offers besides its default, when `wanted`."""
    offered = profile.jupyter.available(dt.date.today())[1:] if wanted else []
    return [environment.name for environment in offered]


def _open_workplace(run: RunResult, profile: Profile, run_id: str, *, through_hub: bool) -> HubRun | None:
    """Where the run works: the account's home through the hub, or the temporary folder; both need room."""
    needed = int(profile.doc_ci.space_needed_gb * GB)
    if through_hub:
        return HubRun.open(profile, run_id, needed_bytes=needed)
    check_local_room(Path(tempfile.gettempdir()), needed)
    run.cleanup = Cleanup(where=f"the temporary folder {tempfile.gettempdir()}", needed_bytes=needed)
    return None


def execution_context(
    profile: Profile,
    examples_dir: Path,
    run_id: str,
    sanitize_rules: Path | None,
    hub: HubRun | None,
    *,
    workroot: str,
    home: Path,
) -> ExecutionContext:
    return ExecutionContext(
        run_id=run_id,
        sanitize=load_sanitizer(
            sanitize_rules or examples_dir / "sanitize.cfg",
            workdirs=[workroot, *([hub.workroot] if hub else [])],
            filesystems={f.name: f.path for f in profile.filesystems},
            homes=[str(home), *([hub.home] if hub else [])],
            users=[hub.user] if hub else [],
        ),
        environment={
            **login_environment(home),
            # Only the download cache outlives the run: installs take seconds, not minutes,
            # and pip prints nothing different for a cached wheel.
            "PIP_CACHE_DIR": str(DOWNLOAD_CACHE / "pip"),
        },
        parameters=site_parameters(profile),
        # Only the site's kernelspecs, so a virtual environment's own python3 never shadows the site's.
        specs=site_kernel_spec_manager(),
        languages={k.name: k.language for k in profile.kernels},
        workroot=Path(workroot),
    )


def _run_in_loop(
    run: RunResult,
    jobs: list[Job],
    context: ExecutionContext,
    plan: RunPlan,
    *,
    elsewhere: list[Job],
    watch: SiteWatch | None = None,
) -> None:
    """Run the jobs in a new event loop that Ctrl-C or SIGTERM cancels, then end what the run left."""
    workers, on_result, hub = plan.workers, plan.on_result, plan.hub

    async def everything() -> list[JobResult]:
        here = _run_jobs(jobs, context, workers or default_workers(), on_result, hub, watch)
        if plan.dispatch is None or not elsewhere:
            return await here
        local, remote = await asyncio.gather(here, plan.dispatch.run_elsewhere(elsewhere, plan))
        return [*local, *remote]

    loop = asyncio.new_event_loop()
    main = loop.create_task(everything())
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, main.cancel)
            previous[signum] = True
        except (RuntimeError, ValueError):  # not the main thread: the caller handles signals
            pass
    try:
        run.results.extend(loop.run_until_complete(main))
        run.executions = context.kernel_starts
    except asyncio.CancelledError:
        run.interrupted = True
    finally:
        for signum in previous:
            loop.remove_signal_handler(signum)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        try:
            cleanup.end_run(context.run_id)
        except SlurmError as error:  # Slurm itself may be what failed during the run
            run.cleanup.problems.append(f"the run's Slurm jobs and kernels were not all ended: {error}")


def _run_planned(run: RunResult, jobs: list[Job], plan: RunPlan) -> None:
    profile, examples_dir, run_id, sanitize_rules = (
        plan.profile,
        plan.examples_dir,
        plan.run_id,
        plan.sanitize_rules,
    )
    hub, dispatch = plan.hub, plan.dispatch
    elsewhere: list[Job] = []
    if dispatch is not None:
        elsewhere = [job for job in jobs if dispatch.takes(job, profile)]
        jobs = [job for job in jobs if not dispatch.takes(job, profile)]
    workroot = Path(tempfile.mkdtemp(prefix=cleanup.workroot_prefix(run_id)))
    # Every run starts as a new account would: an empty home, the site's login environment.
    # A short path, like a real home's, so that output wrapped at 80 columns stays on one line.
    home_root = Path(tempfile.mkdtemp(prefix="hb-home-"))
    context = execution_context(
        profile, examples_dir, run_id, sanitize_rules, hub, workroot=str(workroot), home=new_home(home_root)
    )
    context.keeper = plan.keeper
    run.sanitize = context.sanitize
    watch = SiteWatch(
        workroot=hub.workroot if hub else str(workroot),
        run_id=run_id,
        user=hub.user if hub else None,
        plan={
            index: in_flight(job, profile, index, through_hub=hub is not None)
            for index, job in enumerate(jobs)
        },
    )
    try:
        _run_in_loop(run, jobs, context, plan, elsewhere=elsewhere, watch=watch)
    finally:
        run.cleanup.folder_bytes += tree_bytes(workroot) + tree_bytes(home_root)
        run.cleanup.removed_bytes += run.cleanup.folder_bytes
        problems = [*context.removal_problems, *remove_for_good(workroot), *remove_for_good(home_root)]
        run.cleanup.problems += problems
