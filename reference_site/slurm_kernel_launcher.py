"""Run a Jupyter kernel inside its own Slurm job, and end the job when the kernel's launcher ends.

Jupyter starts this launcher as "the kernel process". It runs the real kernel
with `srun`, so the kernel holds a Slurm allocation on the kernel's partition,
and it makes sure that allocation goes away with the launcher: killing the
`srun` client does not end the job step it started, so the launcher cancels its
job itself, and a reaper does when the launcher is killed
(kernel_launcher_lifecycle.py, installed beside it).

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
import sys

from kernel_launcher_lifecycle import kernel_token, quietly, run_until_stopped, split_kernel_argv

JOB_NAME_PREFIX = "jupyter-kernel-"
JOB_COMMENT_ENV = "HANDBOOK_KERNEL_JOB_COMMENT"
# How long a cancelled job may take to let its srun client go before we stop waiting.
SRUN_EXIT_GRACE_S = 10.0


def cancel_job(job_name: str) -> None:
    # By name and user: the job id is not known until srun has its allocation,
    # and the name is unique to this launcher.
    quietly(["scancel", "--quiet", f"--name={job_name}", f"--user={os.getuid()}"])


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
    return split_kernel_argv(parser, argv)


def main(argv: list[str] | None = None) -> int:
    args, kernel_argv = parse_args(sys.argv[1:] if argv is None else argv)
    job_name = f"{JOB_NAME_PREFIX}{args.kernel_name}-{kernel_token(kernel_argv)}"
    comment = os.environ.get(JOB_COMMENT_ENV) or f"jupyter kernel {args.kernel_name}"
    return run_until_stopped(
        srun_command(args, job_name, comment, kernel_argv),
        lambda: cancel_job(job_name),
        grace_s=SRUN_EXIT_GRACE_S,
        env=srun_environment(),
    )


if __name__ == "__main__":
    sys.exit(main())
