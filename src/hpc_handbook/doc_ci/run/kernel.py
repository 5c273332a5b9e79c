"""The kernel of one example's run: placed where the example says, started, and always stopped.

An example placed on a partition gets its kernel inside a Slurm allocation there (`srun`).
A kernel that lost one of its ports to another process before it could bind it is started
once more with new ports; any other failure to start is final.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from hpc_handbook.examples.contract import Example, PartitionPlacement
from hpc_handbook.examples.sanitize import Sanitizer

KERNEL_STARTUP_TIMEOUT = 120
#: A kernel that lost one of its ports gets new ones once; any other failure to start is final.
KERNEL_START_ATTEMPTS = 2


class SlurmAllocatedKernelManager(AsyncKernelManager):
    """Start the kernel through `srun`, so it runs inside an allocation on the example's partition."""

    srun_arguments: ClassVar[list[str]] = []

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return ["srun", *self.srun_arguments, *super().format_kernel_cmd(extra_arguments)]


def kernel_manager(
    example: Example, kernel: str, specs: KernelSpecManager, *, run_id: str, job_name: str
) -> AsyncKernelManager:
    """The kernel's manager: inside an allocation for an example placed on a partition."""
    placement = example.meta.runs_on
    if example.partition is None or not isinstance(placement, PartitionPlacement):
        return AsyncKernelManager(kernel_name=kernel, kernel_spec_manager=specs)
    manager_class: type[AsyncKernelManager] = type(
        "PlacedKernelManager",
        (SlurmAllocatedKernelManager,),
        {
            "srun_arguments": [
                f"--partition={example.partition}",
                "--nodes=1",
                "--ntasks=1",
                f"--cpus-per-task={placement.cpus}",
                f"--time={placement.walltime}",
                f"--job-name={job_name}",
                f"--comment={run_id}",
                "--quiet",
            ]
        },
    )
    return manager_class(kernel_name=kernel, kernel_spec_manager=specs)


@dataclass
class KernelRun:
    """One kernel's run of an example, and how far it got: what a failure's verdict names."""

    km: AsyncKernelManager
    client: NotebookClient
    workdir: Path
    started: float
    kernel_client: Any = None
    #: The original index of the cell running now; None before the first cell.
    cell: int | None = None
    deadline: float | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / ".kernel.log"

    def past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


def kernel_log_tail(log_path: Path, sanitize: Sanitizer, lines: int = 8) -> str:
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return sanitize("\n".join(tail))


def with_kernel_output(reason: str, log_path: Path, sanitize: Sanitizer) -> str:
    """The reason, followed by the last lines the kernel wrote, if it wrote any."""
    detail = kernel_log_tail(log_path, sanitize)
    return f"{reason}\nkernel output:\n{detail}" if detail else reason


async def start_kernel(run: KernelRun, env: dict[str, str], log: IO[bytes]) -> None:
    """Start the kernel and wait until it answers; the client is kept on `run` so it is always stopped.

    Raises what the last attempt raised when the kernel does not start.
    """
    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
        try:
            await _start_once(run, env, log)
            return
        except Exception:
            if attempt == KERNEL_START_ATTEMPTS or not _lost_a_port(run.log_path):
                raise
            await _forget_ports(run)


async def _start_once(run: KernelRun, env: dict[str, str], log: IO[bytes]) -> None:
    await asyncio.wait_for(
        run.km.start_kernel(cwd=str(run.workdir), env=env, stdout=log, stderr=log),
        timeout=KERNEL_STARTUP_TIMEOUT,
    )
    run.kernel_client = run.km.client()
    run.kernel_client.start_channels()
    await asyncio.wait_for(
        run.kernel_client.wait_for_ready(timeout=KERNEL_STARTUP_TIMEOUT), KERNEL_STARTUP_TIMEOUT + 5
    )


def _lost_a_port(log_path: Path) -> bool:
    """Whether the kernel could not bind a port it was given.

    jupyter_client picks free ports and hands them to the kernel, which binds them a moment
    later; another process on the machine can take one in between.
    """
    try:
        return "Address already in use" in log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


async def _forget_ports(run: KernelRun) -> None:
    """Stop what the failed start left and let the next start pick new ports.

    As for a restart: the manager's ZeroMQ context stays open for the next start.
    """
    if run.kernel_client is not None:
        run.kernel_client.stop_channels()
        run.kernel_client = None
    try:
        if await run.km.is_alive():
            await run.km.shutdown_kernel(now=True, restart=True)
    finally:
        await run.km.cleanup_resources(restart=True)
        run.km.cleanup_random_ports()


async def stop_kernel(run: KernelRun) -> None:
    """Stop the kernel and its channels, whatever state it is in; never raises."""
    km = run.km
    try:
        if run.kernel_client is not None:
            run.kernel_client.stop_channels()
        if await km.is_alive():
            await km.shutdown_kernel(now=False)
    except Exception:  # a kernel that died mid-shutdown must not stop the run
        try:
            await km.shutdown_kernel(now=True)
        except Exception:
            pass
    finally:
        try:
            await km.cleanup_resources()
        except Exception:
            pass
