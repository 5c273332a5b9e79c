"""What every kernel launcher of the site shares: run the kernel's command, and end what it started
however the launcher ends.

A launcher (Slurm's, the container one) starts a command whose work outlives the command itself:
an `srun` client's job step, a `podman run` client's container. So:

* on SIGTERM, SIGINT and SIGHUP the launcher ends that work itself (`stop`), then waits a little
  for its command to go;
* a SIGKILL (Jupyter's last resort, sent to the launcher's process group) cannot be caught, so a
  small reaper process, in a session of its own, waits for the launcher to disappear and ends the
  work then.

Standard library only: installed beside the launchers, it runs with whatever Python they name.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def kernel_token(kernel_argv: Sequence[str]) -> str:
    """A short token unique to this kernel: from the connection file's name when there is one."""
    for arg in kernel_argv:
        match = re.search(r"kernel-([0-9a-f]{8})[0-9a-f-]*\.json$", arg)
        if match:
            return match.group(1)
    return secrets.token_hex(4)


def split_kernel_argv(
    parser: argparse.ArgumentParser, argv: list[str]
) -> tuple[argparse.Namespace, list[str]]:
    """The launcher's own options, before `--`, and the kernel's command line after it."""
    if "--" not in argv:
        parser.error("expected '--' before the kernel's command line")
    split = argv.index("--")
    args = parser.parse_args(argv[:split])
    kernel_argv = argv[split + 1 :]
    if not kernel_argv:
        parser.error("expected the kernel's command line after '--'")
    return args, kernel_argv


def quietly(command: Sequence[str], env: Mapping[str, str] | None = None) -> None:
    """Run a clean-up command; its output and its failure are nobody's concern."""
    quiet = subprocess.DEVNULL
    environment = None if env is None else dict(env)
    subprocess.run(list(command), stdin=quiet, stdout=quiet, stderr=quiet, env=environment, check=False)


def start_reaper(stop: Callable[[], None]) -> None:
    """Fork a process that calls `stop` once this launcher is gone, however it died."""
    read_end, write_end = os.pipe()
    if os.fork() != 0:
        os.close(read_end)
        # Only this process holds the write end (pipes are not inherited by the command),
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
    stop()
    # The command may have started its work just as the launcher died: look once more.
    time.sleep(1.0)
    stop()
    os._exit(0)


class Stopped(Exception):
    """A stop signal arrived: raised out of the wait, so the handler never waits inside a wait."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, _frame: FrameType | None) -> None:
    raise Stopped(signum)


def run_until_stopped(
    command: Sequence[str], stop: Callable[[], None], *, grace_s: float, env: Mapping[str, str] | None = None
) -> int:
    """Run `command` with a reaper behind it; end its work with `stop` when it ends or a stop signal comes.

    Returns the command's exit status, or 128 + the signal's number.
    """
    start_reaper(stop)
    # A signal handler that waited for the command itself would wait inside the wait it interrupted,
    # which holds the lock that every wait needs: it would hang until Jupyter's SIGKILL.
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_stopped)
    process = None
    try:
        process = subprocess.Popen(list(command), env=None if env is None else dict(env))
        return process.wait()
    except Stopped as stopped:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        stop()
        if process is not None:
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return 128 + stopped.signum
    finally:
        # The kernel has exited (or its command lost it): make sure nothing it started lingers.
        stop()
