"""The doc CI through the site's hub: the examples run as the doc-CI account, in its own servers.

One named server per place the examples need (the login node, each partition in their
`runs_on`), started through the hub's REST API with the account's token, each kernel
started and driven through that server's kernel API, as JupyterLab does. So the server
jobs and the kernels run as that account, where users' run. At the end, interrupted or
not, every server is stopped, the account's Slurm jobs are cancelled, and its home is left
as the run found it (`hub_home`).
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpc_handbook.data.examples_report import Cleanup
from hpc_handbook.doc_ci.run.execute import (
    ExecutionContext,
    JobResult,
    _prepare,
    code_cells,
    judge,
    seconds_left,
    timed_out,
)
from hpc_handbook.doc_ci.run.hub_home import GuardError, HomeGuard, finish_guard, record_start
from hpc_handbook.doc_ci.run.workspace import NoRoomError, room_problem
from hpc_handbook.examples.contract import Example
from hpc_handbook.hub.client import HubClient, HubError
from hpc_handbook.hub.kernels import KernelError, ServerKernel
from hpc_handbook.profile import HubAccess, Profile
from hpc_handbook.slurm import SlurmError, cancel_jobs_of_user, list_jobs

LOGIN_NODE = "login"
SERVER_PREFIX = "doc-ci-"
SPAWN_TIMEOUT_S = 300
#: CPUs of a partition server: the kernels of the examples in flight share them.
SERVER_CPUS = 4


class HubRunError(RuntimeError):
    """The hub cannot be used for this run; the message names the URL and what failed."""


def _home_of(profile: Profile, user: str) -> str:
    """The account's home as the profile's `home` filesystem says, for the sanitizer."""
    pattern = next(f.path for f in profile.filesystems if f.name == "home")
    return pattern.replace("$USER", user)


def read_token(access: HubAccess) -> str:
    try:
        token = access.token_file.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise HubRunError(
            f"cannot read the doc CI's hub token {access.token_file} ({error.strerror})"
        ) from None
    if not token:
        raise HubRunError(f"the doc CI's hub token file {access.token_file} is empty")
    return token


@dataclass
class HubRun:
    """The doc-CI account's servers for one run, started as they are first needed."""

    profile: Profile
    client: HubClient
    user: str
    run_name: str
    home: str = ""
    servers: dict[str, str] = field(default_factory=dict)
    spawn_seconds: dict[str, float] = field(default_factory=dict)
    cleanup: Cleanup = field(default_factory=Cleanup)
    #: Keeps the account's home as the run found it; None when the login-node server did not start.
    guard: HomeGuard | None = None
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _failures: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open(cls, profile: Profile, run_id: str, *, needed_bytes: int = 0) -> HubRun:
        """The run's view of the hub, its home recorded; NoRoomError when the home lacks the room."""
        assert profile.hub is not None
        client = HubClient.with_token(str(profile.hub.url), read_token(profile.hub))
        try:
            client.version()
            client.user(profile.hub.doc_ci_user)
        except HubError as error:
            client.close()
            raise HubRunError(str(error)) from None
        user = profile.hub.doc_ci_user
        run = cls(profile, client, user, run_id.split(":")[-1][-8:], home=_home_of(profile, user))
        run.cleanup = Cleanup(where=f"the home of {user}, {run.home}", needed_bytes=needed_bytes)
        # What the run's own servers write into the home from now on is the run's to remove.
        since_ns = time.time_ns()
        run.stop_leftovers()
        try:
            run._guard_home(since_ns)
        except BaseException:
            run.close()
            raise
        return run

    def _guard_home(self, since_ns: int) -> None:
        """Start the login-node server, record the home there, and check that the run has room."""
        python = self.profile.kernel_roles.get("python")
        try:
            server = self._spawn(LOGIN_NODE, None)
            guard = HomeGuard(
                self.client, self.user, server, self.home, self.workroot_name, python.name if python else None
            )
            guard.upload()
            self.guard = guard
            result = asyncio.run(guard.start(since_ns))
        except (HubError, GuardError) as error:
            self.cleanup.problems.append(f"the home of {self.user} was not recorded: {error}")
            return
        record_start(self.cleanup, result)
        where = f"the home of {self.user} ({self.home})"
        problem = room_problem(
            where=where,
            free=result["free"],
            quota_left=result["quota_left"],
            needed=self.cleanup.needed_bytes,
        )
        if problem:
            raise NoRoomError(
                f"{problem} (doc_ci.space_needed_gb in the site profile): free some space there or raise "
                "the account's quota"
            )

    @property
    def workroot(self) -> str:
        """The run's folder in the account's home; each example works in a folder of its own there."""
        return f"{self.home}/{self.workroot_name}"

    @property
    def workroot_name(self) -> str:
        # Not hidden: Jupyter's contents API refuses to create hidden folders.
        return f"doc-ci-{self.run_name}"

    def stop_leftovers(self) -> None:
        """Servers an earlier, killed run left: stopped before this one starts its own."""
        for name in self.client.servers(self.user):
            if name.startswith(SERVER_PREFIX):
                self.client.stop(self.user, name)

    def _options(self, place: str, environment: str | None) -> dict[str, Any]:
        chosen = {"environment": environment} if environment else {}
        if place == LOGIN_NODE:
            return {"place": LOGIN_NODE, **chosen}
        limits = self.profile.partition(place).limits
        return {"place": place, **chosen, "walltime": limits.max_walltime, "cpus": SERVER_CPUS}

    def _spawn(self, place: str, environment: str | None) -> str:
        """Start the named server for this place and environment and wait until it answers; HubError
        if it does not."""
        name = server_name(place, environment)
        where = place if environment is None else f"{place} in the environment {environment}"
        if name in self._failures:
            raise HubError(self._failures[name])
        if name not in self.servers:
            started = time.monotonic()
            try:
                outcome = self.client.start_and_wait(
                    self.user, name, self._options(place, environment), timeout_s=SPAWN_TIMEOUT_S
                )
            except HubError as error:
                self._failures[name] = f"the doc CI's server on {where} did not start: {error}"
                raise HubError(self._failures[name]) from None
            if not outcome.ready:
                detail = outcome.messages[-1] if outcome.messages else "no progress reported"
                self._failures[name] = f"the doc CI's server on {where} did not start: {detail}"
                raise HubError(self._failures[name])
            self.servers[name] = name
            self.spawn_seconds[name] = time.monotonic() - started
        return self.servers[name]

    async def server_for(self, place: str, environment: str | None = None) -> str:
        """The named server for this place and environment, started on first use; HubError if it
        cannot start."""
        async with self._locks.setdefault(server_name(place, environment), asyncio.Lock()):
            return await asyncio.to_thread(self._spawn, place, environment)

    def _stop_servers(self, names: set[str]) -> None:
        for name in names:
            try:
                self.client.stop(self.user, name)
            except HubError:
                pass  # never started, or the hub is gone: the sweep below still ends its job

    def close(self) -> Cleanup:
        """Stop the run's servers and the account's jobs, then leave its home as the run found it.

        The partition servers and every job go first, so that nothing writes into the home
        any more (a server job's log is written until it ends); the login-node server, where
        the home is put back, goes last.
        """
        login = server_name(LOGIN_NODE, None)
        ours = {*self.servers.values(), *self._locks}
        # An example may start servers of its own (the own-JupyterLab recipe): none outlives the run.
        self._stop_servers((ours | self._account_servers()) - {login})
        # The account is the doc CI's own: none of its jobs outlives the run (kernels' jobs too).
        try:
            cancel_jobs_of_user(self.user)
        except SlurmError as error:  # Slurm itself may be what failed during the run
            self.cleanup.problems.append(f"the jobs of {self.user} were not cancelled: {error}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self._jobs_left():
            time.sleep(0.5)
        if self.guard is not None:
            finish_guard(self.guard, self.cleanup)
        elif self.servers:
            self.cleanup.problems.append(
                f"{self.workroot} was not removed: the login-node server, where the home guard runs, "
                "did not start"
            )
        self._stop_servers({login})
        self.client.close()
        return self.cleanup

    def _account_servers(self) -> set[str]:
        try:
            model = self.client.api("GET", f"/users/{self.user}")
        except HubError:
            return set()
        return {name for name in (model.get("servers") or {}) if name}

    def _jobs_left(self) -> bool:
        try:
            return any(job.user == self.user for job in list_jobs(check=False, timeout=30))
        except SlurmError:
            return False  # Slurm does not answer: waiting longer would not help


def _contents_path(*parts: str) -> str:
    return "/contents/" + "/".join(p.strip("/") for p in parts if p)


def _upload_assets(hub: HubRun, server: str, folder: str, assets: Path) -> None:
    """The example's assets/ folder, copied into its working folder in the account's home."""
    hub.client.server_api(
        hub.user, server, _contents_path(folder, "assets"), "PUT", json={"type": "directory"}
    )
    for file in sorted(assets.iterdir()):
        if file.is_file():
            body = {
                "type": "file",
                "format": "base64",
                "content": base64.b64encode(file.read_bytes()).decode(),
            }
            hub.client.server_api(
                hub.user, server, _contents_path(folder, "assets", file.name), "PUT", json=body
            )


async def _make_workdir(hub: HubRun, server: str, example: Example, job_index: int) -> str:
    root = hub.workroot_name
    folder = f"{root}/{example.name}-{job_index}"
    for path in (root, folder):
        try:
            await asyncio.to_thread(
                hub.client.server_api,
                hub.user,
                server,
                _contents_path(path),
                "PUT",
                json={"type": "directory"},
            )
        except HubError:
            if path == folder:
                raise
    assets = example.path.parent / "assets"
    if assets.is_dir():
        await asyncio.to_thread(_upload_assets, hub, server, folder, assets)
    return folder


async def _remove_workdir(hub: HubRun, folder: str) -> None:
    """Remove an example's folder for good as soon as it is done, so a run needs room for a few at once."""
    if hub.guard is None:
        hub.cleanup.problems.append(f"{folder} not removed: the home guard did not start")
        return
    await hub.guard.remove([folder.rpartition("/")[2]])


async def _keep_if_failed(
    hub: HubRun, server: str, folder: str, result: JobResult, context: ExecutionContext
) -> None:
    """A failure's folder, as far as the report folder keeps it, before it is removed."""
    if result.status == "failed" and context.keeper is not None:
        result.kept = await asyncio.to_thread(
            context.keeper.keep_from_server,
            hub.client,
            hub.user,
            server,
            folder,
            example=result.example,
            kernel=result.kernel,
        )


def server_name(place: str, environment: str | None) -> str:
    """`doc-ci-login`, or `doc-ci-login-2026-06` for a server in another environment than the default."""
    return f"{SERVER_PREFIX}{place}" + (f"-{environment}" if environment else "")


async def execute_in_server(
    example: Example,
    kernel_name: str,
    context: ExecutionContext,
    hub: HubRun,
    *,
    job_index: int,
    environment: str | None = None,
) -> JobResult:
    """Run one example on a kernel inside the doc-CI account's server, and judge its outputs."""
    result = JobResult.for_example(example, kernel_name, "passed", environment=environment)
    started = time.monotonic()
    notebook, origins = _prepare(example, kernel_name, context)
    place = example.partition or LOGIN_NODE
    try:
        server = await hub.server_for(place, environment)
        folder = await _make_workdir(hub, server, example, job_index)
    except HubError as error:
        result.fail(str(error))
        return result
    kernel = ServerKernel(hub.client, hub.user, server, kernel_name)
    current_cell: int | None = None
    completed = False
    try:
        context.kernel_starts += 1
        try:
            await kernel.start(path=folder, timeout_s=120)
        except (KernelError, HubError, TimeoutError, OSError) as error:
            result.fail(f"kernel {kernel_name!r} failed to start in the {place} server: {error}".strip())
            return result
        result.startup_seconds = time.monotonic() - started
        deadline = started + example.meta.timeout + result.startup_seconds
        for position, cell, execution_count in code_cells(notebook):
            current_cell = origins[position]
            remaining = seconds_left(deadline)
            run = await kernel.run(cell.source, timeout_s=remaining)
            cell.outputs = run.outputs
            cell.execution_count = execution_count
            if run.status == "error" and "raises-exception" not in cell.metadata.get("tags", []):
                result.fail(
                    f"cell {current_cell} raised an error: {context.sanitize(run.error)}", cell=current_cell
                )
                return result
        completed = True
        result.busy_seconds = time.monotonic() - started
    except TimeoutError:
        result.fail(timed_out(example, current_cell), cell=current_cell)
    except KernelError as error:
        result.fail(f"the kernel stopped answering in cell {current_cell}: {error}", cell=current_cell)
    finally:
        await kernel.shutdown()
        await _keep_if_failed(hub, server, folder, result, context)
        await _remove_workdir(hub, folder)
        result.seconds = time.monotonic() - started
    result.notebook = notebook
    if completed:
        judge(result, example, notebook, origins, context.sanitize)
    return result
