"""Run a Jupyter kernel in a rootless podman container, and remove the container when the launcher ends.

Jupyter starts this launcher as "the kernel process". It runs the real kernel with
`podman run`, as the user, from an image of the site's read-only store, and makes sure
the container goes away with the launcher:

* podman's monitor (conmon) leaves the launcher's process group, so killing the
  `podman run` client does not stop the container: the launcher removes it itself on
  SIGTERM, SIGINT, SIGHUP and normal exit;
* a SIGKILL (Jupyter's last resort) cannot be caught, so a small reaper process, in a
  session of its own, waits for the launcher to disappear and removes the container then.

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
import re
import resource
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

CONTAINER_NAME_PREFIX = "jupyter-kernel-"
COMMENT_ENV = "HANDBOOK_KERNEL_JOB_COMMENT"
COMMENT_LABEL = "org.hpc-handbook.comment"
KERNEL_LABEL = "org.hpc-handbook.kernel"
#: The Slurm job a container's kernel runs in: the site's epilog removes the job's containers.
JOB_LABEL = "org.hpc-handbook.slurm-job"
# How long podman may take to let its client go after the container is removed.
PODMAN_EXIT_GRACE_S = 10.0


def container_token(kernel_argv: list[str]) -> str:
    """A short token unique to this kernel: from the connection file's name when there is one."""
    for arg in kernel_argv:
        match = re.search(r"kernel-([0-9a-f]{8})[0-9a-f-]*\.json$", arg)
        if match:
            return match.group(1)
    return secrets.token_hex(4)


def remove_container(name: str) -> None:
    subprocess.run(
        ["podman", "rm", "--force", "--ignore", "--time", "0", name],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


def start_reaper(name: str) -> None:
    """Fork a process that removes the container once this launcher is gone, however it died."""
    read_end, write_end = os.pipe()
    if os.fork() != 0:
        os.close(read_end)
        # Only this process holds the write end (pipes are not inherited by podman),
        # so the reaper reads end-of-file exactly when we are gone.
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
    remove_container(name)
    # podman may have created the container just as the launcher died: look once more.
    time.sleep(1.0)
    remove_container(name)
    os._exit(0)


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
        args.image,
        *kernel_argv,
    ]


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="container-kernel-launcher", description=__doc__.split("\n")[0])
    parser.add_argument("--kernel-name", required=True)
    parser.add_argument("--image", required=True, help="the image, as the site's store names it")
    parser.add_argument("--mount", action="append", default=[], help="a folder to mount at the same path")
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
    name = f"{CONTAINER_NAME_PREFIX}{args.kernel_name}-{container_token(kernel_argv)}"
    comment = os.environ.get(COMMENT_ENV) or f"jupyter kernel {args.kernel_name}"
    start_reaper(name)
    # A signal handler that waited for podman itself would wait inside the wait it interrupted,
    # which holds the lock that every wait needs: it would hang until Jupyter's SIGKILL.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _raise_stopped)
    podman = None
    try:
        podman = subprocess.Popen(podman_command(args, name, comment, kernel_argv))
        return podman.wait()
    except Stopped as stopped:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        remove_container(name)
        if podman is not None:
            try:
                podman.wait(timeout=PODMAN_EXIT_GRACE_S)
            except subprocess.TimeoutExpired:
                podman.kill()
                podman.wait()
        return 128 + stopped.signum
    finally:
        # The kernel has exited (or podman lost it): make sure no container lingers.
        remove_container(name)


if __name__ == "__main__":
    sys.exit(main())
