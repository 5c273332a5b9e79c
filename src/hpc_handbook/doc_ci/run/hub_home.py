"""The doc-CI account's home through the hub: recorded before a run, left as it was found after it.

`home_guard` does the work as the account, in a terminal of its login-node server: before the
run it puts right what a killed run left, measures the room and records the home; during the
run it removes each example's working folder for good; after it, it removes what appeared in
the home (the run's folder, the servers' logs, caches the examples filled) and puts back the
small files that changed (IPython's history). Where the server offers no terminal, a Python
kernel runs it instead; the record then keeps everything the servers' start made.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import shlex
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from hpc_handbook.data.examples_report import Cleanup
from hpc_handbook.doc_ci.run.home_guard import GUARD_DIR, RESULT_MARKER
from hpc_handbook.doc_ci.run.workspace import gigabytes
from hpc_handbook.hub.client import HubClient, HubError
from hpc_handbook.hub.kernels import KernelError, ServerKernel, stream_text
from hpc_handbook.hub.terminal import NoTerminalError, ServerTerminal, TerminalError

SCRIPT_NAME = "home_guard.py"
#: A large home takes a while to walk and copy; a large run folder to remove.
START_TIMEOUT_S = 600
REMOVE_TIMEOUT_S = 300
FINISH_TIMEOUT_S = 1200
_RESULT = re.compile(rf"{RESULT_MARKER} ([A-Za-z0-9+/=]+)")


class GuardError(RuntimeError):
    """The guard could not run or gave no result; the message says what the server showed."""


def parse_result(shown: str) -> dict[str, Any]:
    """The guard's result from what the terminal or kernel showed; GuardError without one."""
    match = _RESULT.search(shown)
    if match is None:
        tail = " | ".join(line.strip() for line in shown.strip().splitlines()[-4:] if line.strip())
        raise GuardError(f"the home guard gave no result ({tail or 'no output'})")
    try:
        result: dict[str, Any] = json.loads(base64.b64decode(match.group(1)))
    except (ValueError, binascii.Error):
        raise GuardError("the home guard's result was cut short") from None
    return result


def shell_command(script: str, arguments: list[str]) -> str:
    """The guard's command line in the terminal: run by the server's own Python, the one sure to be there."""
    return (
        'PY=$(readlink -f /proc/$PPID/exe); case "$PY" in *python*) ;; *) PY=python3 ;; esac; '
        f'"$PY" {shlex.quote(script)} {shlex.join(arguments)} 2>&1 | tail -c 200000'
    )


def kernel_code(script: str, arguments: list[str]) -> str:
    command = [script, *arguments]
    return (
        "import subprocess, sys\n"
        f"done = subprocess.run([sys.executable, *{command!r}], capture_output=True, text=True)\n"
        "print(done.stdout[-200000:], done.stderr[-2000:], sep='\\n')\n"
    )


@dataclass
class HomeGuard:
    """The guard of one run, in the account's login-node server."""

    client: HubClient
    user: str
    server: str
    home: str
    workroot: str
    #: The kernel that runs the guard where the server offers no terminal.
    python_kernel: str | None = None
    terminals: bool = True
    #: Where the run's per-example removals put their problems.
    problems: list[str] = field(default_factory=list)
    #: What those removals freed.
    freed: int = 0

    @property
    def script(self) -> str:
        return f"{self.home}/{self.workroot}/{GUARD_DIR}/{SCRIPT_NAME}"

    def upload(self) -> None:
        """The run's folder, and the guard script in it, through the contents API."""
        source = files("hpc_handbook.doc_ci.run").joinpath(SCRIPT_NAME).read_text(encoding="utf-8")
        for folder in (self.workroot, f"{self.workroot}/{GUARD_DIR}"):
            self.client.server_api(
                self.user, self.server, f"/contents/{folder}", "PUT", json={"type": "directory"}
            )
        body = {"type": "file", "format": "text", "content": source}
        self.client.server_api(
            self.user, self.server, f"/contents/{self.workroot}/{GUARD_DIR}/{SCRIPT_NAME}", "PUT", json=body
        )

    async def _in_terminal(self, arguments: list[str], timeout_s: float) -> dict[str, Any]:
        async with ServerTerminal(self.client, self.user, self.server) as terminal:
            _, shown = await terminal.run(shell_command(self.script, arguments), timeout_s=timeout_s)
        return parse_result(shown)

    async def _in_kernel(self, arguments: list[str], timeout_s: float) -> dict[str, Any]:
        if self.python_kernel is None:
            raise GuardError("the server offers no terminal, and the site profile names no Python kernel")
        kernel = ServerKernel(self.client, self.user, self.server, self.python_kernel)
        try:
            await kernel.start(timeout_s=120)
            run = await kernel.run(
                kernel_code(self.script, arguments), timeout_s=timeout_s, store_history=False
            )
        except (KernelError, HubError, TimeoutError) as error:
            raise GuardError(f"the home guard's kernel failed: {error or 'timed out'}") from None
        finally:
            await kernel.shutdown()
        return parse_result(stream_text(run))

    async def call(
        self, arguments: list[str], *, timeout_s: float, since_ns: int | None = None
    ) -> dict[str, Any]:
        """Run the guard with these arguments; `since_ns` tells it when the run's servers began."""
        timed = since_ns is not None
        if self.terminals:
            try:
                return await self._in_terminal([*arguments, *([str(since_ns)] if timed else [])], timeout_s)
            except NoTerminalError:
                self.terminals = False
            except TerminalError as error:
                raise GuardError(str(error)) from None
        # A kernel's own start writes into the home (IPython's history): no time tells the run's files apart.
        return await self._in_kernel([*arguments, *(["-"] if timed else [])], timeout_s)

    async def start(self, since_ns: int) -> dict[str, Any]:
        return await self.call(
            ["start", self.home, self.workroot, self.user], timeout_s=START_TIMEOUT_S, since_ns=since_ns
        )

    async def remove(self, names: list[str]) -> None:
        """Remove folders of the run's folder for good; what fails goes to `problems`."""
        try:
            result = await self.call(["remove", self.home, self.workroot, *names], timeout_s=REMOVE_TIMEOUT_S)
        except GuardError as error:
            self.problems.append(f"{', '.join(names)} in {self.workroot} not removed: {error}")
            return
        self.problems += result["problems"]
        self.freed += result["removed_bytes"]

    async def finish(self) -> dict[str, Any]:
        return await self.call(["finish", self.home, self.workroot], timeout_s=FINISH_TIMEOUT_S)


def record_start(cleanup: Cleanup, result: dict[str, Any]) -> None:
    """What the guard's start found, in the report's terms."""
    cleanup.free_bytes = result.get("free")
    cleanup.quota_left_bytes = result.get("quota_left")
    for earlier in result.get("earlier", []):
        freed = gigabytes(earlier["folder_bytes"])
        cleanup.earlier.append(
            f"{earlier['folder']}: a run that was killed; removed {freed} of its folder and "
            f"{earlier['removed_count']} other entries, and put back {earlier['restored_count']} files"
        )
    if result.get("trash_bytes"):
        cleanup.earlier.append(
            f"removed {gigabytes(result['trash_bytes'])} of earlier runs' folders from the trash"
        )
    cleanup.problems += result.get("problems", [])


def record_finish(cleanup: Cleanup, result: dict[str, Any]) -> None:
    cleanup.folder_bytes = result["folder_bytes"]
    cleanup.removed_bytes += result["folder_bytes"] + result["removed_bytes"]
    cleanup.removed, cleanup.removed_count = result["removed"], result["removed_count"]
    cleanup.restored, cleanup.restored_count = result["restored"], result["restored_count"]
    cleanup.problems += result["problems"]


def finish_guard(guard: HomeGuard, cleanup: Cleanup) -> None:
    """After the run: the home put back, the run's folder removed; every failure in the report."""
    cleanup.problems += guard.problems
    try:
        record_finish(cleanup, asyncio.run(guard.finish()))
    except GuardError as error:
        cleanup.problems.append(f"the home of {guard.user} was not put back: {error}")
    # The examples' folders, each removed as soon as its example was done.
    cleanup.folder_bytes += guard.freed
    cleanup.removed_bytes += guard.freed
