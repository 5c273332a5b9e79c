"""Run a Jupyter kernel inside its own Slurm job, and end the job when the kernel's launcher ends.

Jupyter starts this launcher as "the kernel process". It runs the real kernel
with `srun`, so the kernel holds a Slurm allocation on the kernel's partition,
and it makes sure that allocation goes away with the launcher:

* killing the `srun` client does not end the job step it started, so the
  launcher cancels its job itself on SIGTERM, SIGINT, SIGHUP and normal exit;
* a SIGKILL (Jupyter's last resort, sent to the launcher's process group)
  cannot be caught, so a small reaper process, in a session of its own, waits
  for the launcher to disappear and cancels the job then.

The job is named `jupyter-kernel-<kernel>-<token>` so that it is found by name
without parsing srun's output, and its comment is $HANDBOOK_KERNEL_JOB_COMMENT
when set, so that a test runner can sweep the jobs of its own kernels.

Interrupts must come as messages (`"interrupt_mode": "message"` in the
kernelspec): a SIGINT to this launcher means "stop".

Standard library only: it runs with whatever Python the kernelspec names.
Usage:
    slurm-kernel-launcher --kernel-name NAME --partition P --time HH:MM:SS [--gpus N] -- KERNEL ARGV...
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from types import FrameType

JOB_NAME_PREFIX = "jupyter-kernel-"
JOB_COMMENT_ENV = "HANDBOOK_KERNEL_JOB_COMMENT"
# How long a cancelled job may take to let its srun client go before we stop waiting.
SRUN_EXIT_GRACE_S = 10.0


def job_token(kernel_argv: list[str]) -> str:
    """A short token unique to this kernel: from the connection file's name when there is one."""
    for arg in kernel_argv:
        match = re.search(r"kernel-([0-9a-f]{8})[0-9a-f-]*\.json$", arg)
        if match:
            return match.group(1)
    return secrets.token_hex(4)


def cancel_job(job_name: str) -> None:
    # By name and user: the job id is not known until srun has its allocation,
    # and the name is unique to this launcher.
    subprocess.run(
        ["scancel", "--quiet", f"--name={job_name}", f"--user={os.getuid()}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


def start_reaper(job_name: str) -> None:
    """Fork a process that cancels the job once this launcher is gone, however it died."""
    read_end, write_end = os.pipe()
    if os.fork() != 0:
        os.close(read_end)
        # Only this process holds the write end (pipes are not inherited by
        # srun), so the reaper reads end-of-file exactly when we are gone.
        return
    os.close(write_end)
    # A session of its own: Jupyter's signals go to the launcher's process group.
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        while os.read(read_end, 1):
            pass
    except OSError:
        pass
    cancel_job(job_name)
    # srun may have submitted the job just as the launcher died: look once more.
    time.sleep(1.0)
    cancel_job(job_name)
    os._exit(0)


def srun_command(args: argparse.Namespace, job_name: str, comment: str, kernel_argv: list[str]) -> list[str]:
    return [
        "srun",
        f"--partition={args.partition}",
        f"--time={args.time}",
        f"--job-name={job_name}",
        f"--comment={comment}",
        "--nodes=1",
        "--ntasks=1",
        f"--cpus-per-task={args.cpus}",
        *([f"--gpus={args.gpus}"] if args.gpus else []),
        "--kill-on-bad-exit=1",
        "--export=ALL",
        *kernel_argv,
    ]


def srun_environment() -> dict[str, str]:
    # A notebook server that itself runs in a Slurm job must still give the
    # kernel a job of its own, not a step inside the server's allocation.
    return {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="slurm-kernel-launcher", description=__doc__.split("\n")[0])
    parser.add_argument("--kernel-name", required=True)
    parser.add_argument("--partition", required=True)
    parser.add_argument("--time", required=True, help="walltime, [D-]HH:MM:SS")
    parser.add_argument("--cpus", type=int, default=1)
    parser.add_argument("--gpus", type=int, default=0, help="GPUs for the kernel's job (--gpus)")
    if "--" not in argv:
        parser.error("expected '--' before the kernel's command line")
    split = argv.index("--")
    args = parser.parse_args(argv[:split])
    kernel_argv = argv[split + 1 :]
    if not kernel_argv:
        parser.error("expected the kernel's command line after '--'")
    return args, kernel_argv


class Stopped(Exception):
    """A stop signal arrived: raised out of the wait, so the handler never waits inside a wait."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, _frame: FrameType | None) -> None:
    raise Stopped(signum)


def main(argv: list[str] | None = None) -> int:
    args, kernel_argv = parse_args(sys.argv[1:] if argv is None else argv)
    job_name = f"{JOB_NAME_PREFIX}{args.kernel_name}-{job_token(kernel_argv)}"
    comment = os.environ.get(JOB_COMMENT_ENV) or f"jupyter kernel {args.kernel_name}"
    start_reaper(job_name)
    # A signal handler that waited for srun itself would wait inside the wait it interrupted,
    # which holds the lock that every wait needs: it would hang until Jupyter's SIGKILL.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _raise_stopped)
    srun = None
    try:
        srun = subprocess.Popen(srun_command(args, job_name, comment, kernel_argv), env=srun_environment())
        return srun.wait()
    except Stopped as stopped:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        cancel_job(job_name)
        if srun is not None:
            try:
                srun.wait(timeout=SRUN_EXIT_GRACE_S)
            except subprocess.TimeoutExpired:
                srun.kill()
                srun.wait()
        return 128 + stopped.signum
    finally:
        # The kernel has exited (or srun lost it): make sure no allocation lingers.
        cancel_job(job_name)


if __name__ == "__main__":
    sys.exit(main())
