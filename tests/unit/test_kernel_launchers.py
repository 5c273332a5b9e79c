"""The kernel launchers end what they started when Jupyter stops them, and do not hang doing it.

The launchers run here against stand-ins for `srun`/`scancel` and `podman` that record how they
were called: what is tested is the launcher's own signal handling, not Slurm or podman.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

LAUNCHERS = Path(__file__).resolve().parents[2] / "reference_site"

#: Stand-ins: the kernel's command runs until the stop command (recorded) ends it, as the real ones do.
RUNS = 'echo $$ > "$CALLS.pid"\nexec sleep 60\n'
STOPS = (
    'echo "$(basename "$0")" "$@" >> "$CALLS"\n'
    '[ -f "$CALLS.pid" ] && kill "$(cat "$CALLS.pid")" 2>/dev/null\n'
    "exit 0\n"
)
FAKES = {
    "container_kernel_launcher": {"podman": f'if [ "$1" = run ]; then\n{RUNS}fi\n{STOPS}'},
    "slurm_kernel_launcher": {"srun": RUNS, "scancel": STOPS},
}
ARGUMENTS = {
    "container_kernel_launcher": ["--kernel-name", "k", "--image", "localhost/i:x", "--", "python3"],
    "slurm_kernel_launcher": [
        "--kernel-name",
        "k",
        "--partition",
        "p",
        "--time",
        "00:10:00",
        "--",
        "python3",
    ],
}
STOP_WORD = {"container_kernel_launcher": "podman rm --force", "slurm_kernel_launcher": "scancel"}


@pytest.mark.parametrize("launcher", sorted(FAKES))
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_the_launcher_at_once_and_stops_what_it_started(
    launcher: str, signum: signal.Signals, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in FAKES[launcher].items():
        (bin_dir / name).write_text("#!/bin/bash\n" + body)
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / "calls"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls)}
    process = subprocess.Popen(
        [sys.executable, str(LAUNCHERS / f"{launcher}.py"), *ARGUMENTS[launcher]],
        env=env, cwd=tmp_path, start_new_session=True,
    )  # fmt: skip
    try:
        # Signal only once the launcher waits for its command: the command has written its pid.
        deadline = time.monotonic() + 30
        while not Path(f"{calls}.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
        process.send_signal(signum)
        code = process.wait(timeout=20)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert code == 128 + signum
    # Stopping the child must not wait out the grace period: the child ends when told to.
    assert took < 5, f"the launcher took {took:.1f} s to stop"
    assert STOP_WORD[launcher] in calls.read_text()
