"""Run a Jupyter kernel in a rootless podman container, and remove the container when the launcher ends.

Jupyter starts this launcher as "the kernel process". It runs the real kernel with
`podman run`, as the user, from an image of the site's read-only store, and makes sure
the container goes away with the launcher: podman's monitor (conmon) leaves the
launcher's process group, so killing the `podman run` client does not stop the
container; the launcher removes it itself, and a reaper does when the launcher is
killed (kernel_launcher_lifecycle.py, installed beside it).

The container shares the host's network (the kernel listens on the ports of its connection
file) and mounts the given folders at the same paths, so notebooks, the connection file and
the user's files are where the kernel expects them. Its own files are read-only.

The container is named `jupyter-kernel-<kernel>-<token>` and labelled with
$HANDBOOK_KERNEL_JOB_COMMENT when set, so that a test runner can sweep its own kernels, and
with $SLURM_JOB_ID in a Slurm job: Slurm's ending of a job does not reach podman's monitor,
so the site's epilog removes the job's containers by that label.
Interrupts must come as messages (`"interrupt_mode": "message"`): a SIGINT here means "stop".

Standard library only: it runs with whatever Python the kernelspec names.
Usage:
    container-kernel-launcher --kernel-name NAME --image REF [--mount DIR]... -- KERNEL ARGV...
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
from pathlib import Path

from kernel_launcher_lifecycle import kernel_token, quietly, run_until_stopped, split_kernel_argv

CONTAINER_NAME_PREFIX = "jupyter-kernel-"
COMMENT_ENV = "HANDBOOK_KERNEL_JOB_COMMENT"
COMMENT_LABEL = "org.hpc-handbook.comment"
KERNEL_LABEL = "org.hpc-handbook.kernel"
#: The Slurm job a container's kernel runs in: the site's epilog removes the job's containers.
JOB_LABEL = "org.hpc-handbook.slurm-job"
# How long podman may take to let its client go after the container is removed.
PODMAN_EXIT_GRACE_S = 10.0


def podman_environment() -> dict[str, str]:
    """The launcher's environment without the run's tags ($HANDBOOK_...).

    A user's first podman starts a pause process that holds the user's namespace for every later
    podman and outlives them all; with a run's tag it would look like something the run left. The
    container itself is found by its label instead.
    """
    return {key: value for key, value in os.environ.items() if not key.startswith("HANDBOOK_")}


def remove_container(name: str) -> None:
    quietly(["podman", "rm", "--force", "--ignore", "--time", "0", name], env=podman_environment())


def mounted_folders(requested: list[str], kernel_argv: list[str]) -> list[str]:
    """The folders to mount: those asked for that exist, and the connection file's and working
    folder when no mount covers them (a kernel started from a temporary folder)."""
    folders = [str(Path(folder).resolve()) for folder in requested if Path(folder).is_dir()]
    needed = [str(Path.cwd())]
    needed += [str(Path(arg).resolve().parent) for arg in kernel_argv if arg.endswith(".json")]
    for folder in needed:
        if not any(folder == top or folder.startswith(top.rstrip("/") + "/") for top in folders):
            folders.append(folder)
    return folders


def resource_limits() -> list[str]:
    """The kernel keeps the limits of whoever starts it (open files, processes).

    A user's podman does that by itself with `--ulimit=host`. Root's podman would give the container
    its own defaults, far above a root's limits where root lacks CAP_SYS_RESOURCE: so root passes
    its own hard limits, processes capped at the kernel's pid_max, as the container's.
    """
    if os.geteuid() != 0:
        return ["--ulimit=host"]
    files = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    processes = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        pid_max = processes
    if processes == resource.RLIM_INFINITY or processes > pid_max:
        processes = pid_max
    limits = [f"--ulimit=nproc={processes}:{processes}"]
    if files != resource.RLIM_INFINITY:
        limits.append(f"--ulimit=nofile={files}:{files}")
    return limits


def podman_command(args: argparse.Namespace, name: str, comment: str, kernel_argv: list[str]) -> list[str]:
    mounts = [f"--volume={folder}:{folder}" for folder in mounted_folders(args.mount, kernel_argv)]
    return [
        "podman",
        "run",
        "--rm",
        f"--name={name}",
        f"--label={KERNEL_LABEL}={args.kernel_name}",
        f"--label={COMMENT_LABEL}={comment}",
        *([f"--label={JOB_LABEL}={os.environ['SLURM_JOB_ID']}"] if os.environ.get("SLURM_JOB_ID") else []),
        # The image's own files stay as the site built them; /tmp and /run are the container's own.
        "--read-only",
        "--network=host",
        # The store is the site's and read-only: /etc/hosts from the host would have to be written into it.
        "--no-hosts",
        "--init",
        *resource_limits(),
        "--interactive",
        *mounts,
        f"--workdir={Path.cwd()}",
        f"--env=HOME={os.environ.get('HOME', '/')}",
        f"--env=USER={os.environ.get('USER', '')}",
        # In a server's Slurm job, the kernel sees the job as the server does.
        "--env=SLURM_*",
        args.image,
        *kernel_argv,
    ]


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="container-kernel-launcher", description=__doc__.split("\n")[0])
    parser.add_argument("--kernel-name", required=True)
    parser.add_argument("--image", required=True, help="the image, as the site's store names it")
    parser.add_argument("--mount", action="append", default=[], help="a folder to mount at the same path")
    return split_kernel_argv(parser, argv)


def main(argv: list[str] | None = None) -> int:
    args, kernel_argv = parse_args(sys.argv[1:] if argv is None else argv)
    name = f"{CONTAINER_NAME_PREFIX}{args.kernel_name}-{kernel_token(kernel_argv)}"
    comment = os.environ.get(COMMENT_ENV) or f"jupyter kernel {args.kernel_name}"
    return run_until_stopped(
        podman_command(args, name, comment, kernel_argv),
        lambda: remove_container(name),
        grace_s=PODMAN_EXIT_GRACE_S,
        env=podman_environment(),
    )


if __name__ == "__main__":
    sys.exit(main())
