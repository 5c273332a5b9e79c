"""The doc CI through the site's hub: the examples run as the doc-CI account, in its own servers.

One named server per place the examples need (the login node, each partition in their
`runs_on`), started through the hub's REST API with the account's token, each kernel
started and driven through that server's kernel API, as JupyterLab does. So the server
jobs and the kernels run as that account, where users' run. At the end, interrupted or
not, every server is stopped and the account's Slurm jobs are cancelled.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpc_handbook.doc_ci.contract import Example
from hpc_handbook.doc_ci.execute import (
    ExecutionContext,
    JobResult,
    _prepare,
    code_cells,
    judge,
    seconds_left,
    timed_out,
)
from hpc_handbook.hub_client import HubClient, HubError
from hpc_handbook.profile import HubAccess, Profile
from hpc_handbook.server_kernels import KernelError, ServerKernel
from hpc_handbook.slurm import cancel_jobs_of_user

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
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _failures: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open(cls, profile: Profile, run_id: str) -> HubRun:
        assert profile.hub is not None
        client = HubClient.with_token(str(profile.hub.url), read_token(profile.hub))
        try:
            client.version()
            client.user(profile.hub.doc_ci_user)
        except HubError as error:
            raise HubRunError(str(error)) from None
        user = profile.hub.doc_ci_user
        run = cls(profile, client, user, run_id.split(":")[-1][-8:], home=_home_of(profile, user))
        run.stop_leftovers()
        return run

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

    def _options(self, place: str) -> dict[str, Any]:
        if place == LOGIN_NODE:
            return {"place": LOGIN_NODE}
        limits = self.profile.partition(place).limits
        return {"place": place, "walltime": limits.max_walltime, "cpus": SERVER_CPUS}

    async def server_for(self, place: str) -> str:
        """The named server for this place, started on first use; HubError if it cannot start."""
        lock = self._locks.setdefault(place, asyncio.Lock())
        async with lock:
            if place in self._failures:
                raise HubError(self._failures[place])
            if place not in self.servers:
                name = f"{SERVER_PREFIX}{place}"
                started = time.monotonic()
                try:
                    outcome = await asyncio.to_thread(
                        self.client.start_and_wait,
                        self.user,
                        name,
                        self._options(place),
                        timeout_s=SPAWN_TIMEOUT_S,
                    )
                except HubError as error:
                    self._failures[place] = f"the doc CI's server on {place} did not start: {error}"
                    raise HubError(self._failures[place]) from None
                if not outcome.ready:
                    detail = outcome.messages[-1] if outcome.messages else "no progress reported"
                    self._failures[place] = f"the doc CI's server on {place} did not start: {detail}"
                    raise HubError(self._failures[place])
                self.servers[place] = name
                self.spawn_seconds[place] = time.monotonic() - started
            return self.servers[place]

    def close(self) -> None:
        """Stop every server of the run, then cancel what the account still has queued or running."""
        for name in {*self.servers.values(), *(SERVER_PREFIX + p for p in self._locks)}:
            try:
                self.client.stop(self.user, name)
            except HubError:
                pass  # never started, or the hub is gone: the sweep below still ends its job
        # The account is the doc CI's own: none of its jobs outlives the run (kernels' jobs too).
        cancel_jobs_of_user(self.user)


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


async def _remove_workdir(hub: HubRun, server: str, folder: str) -> None:
    try:
        await asyncio.to_thread(hub.client.server_api, hub.user, server, _contents_path(folder), "DELETE")
    except HubError:
        pass  # a server already stopped takes nothing with it; the next run's folder is new


async def execute_in_server(
    example: Example, kernel_name: str, context: ExecutionContext, hub: HubRun, *, job_index: int
) -> JobResult:
    """Run one example on a kernel inside the doc-CI account's server, and judge its outputs."""
    result = JobResult.for_example(example, kernel_name, "passed")
    started = time.monotonic()
    notebook, origins = _prepare(example, kernel_name, context)
    place = example.partition or LOGIN_NODE
    try:
        server = await hub.server_for(place)
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
            await asyncio.wait_for(kernel.start(path=folder), timeout=120)
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
        await _remove_workdir(hub, server, folder)
        result.seconds = time.monotonic() - started
    result.notebook = notebook
    if completed:
        judge(result, example, notebook, origins, context.sanitize)
    return result
