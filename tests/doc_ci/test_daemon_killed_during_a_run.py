"""A Slurm daemon killed during a run fails the examples that need it within seconds, naming it.

The example submits a job and waits for Slurm to say it has ended, as a notebook would, so
without the site watch it would wait until its timeout of ten minutes. Each test kills one
daemon while the job runs, expects the verdict within a minute, and then brings the site
back with `site up`, after which every node is ready again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hpc_handbook.doc_ci.run.execute import JobResult
from hpc_handbook.doc_ci.run.runner import RunResult, run_examples
from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.lifecycle import up
from hpc_handbook.reference_site.slurm_conf import site_nodes
from hpc_handbook.reference_site.slurm_nodes import node_ready, node_states, slurmd_pids
from hpc_handbook.reference_site.system import find_processes

from .conftest import WriteExample

pytestmark = [pytest.mark.site, pytest.mark.slurm, pytest.mark.usefixtures("leaves_nothing_behind")]

JOB_NAME = "handbook-watch-test"
#: The verdict must come within this, far below the example's timeout.
VERDICT_WITHIN_S = 60


def waits_for_its_job(partition: str) -> list[str]:
    return [
        "import subprocess, time\n"
        "job = subprocess.run(\n"
        f"    ['sbatch', '--parsable', '--partition={partition}', '--time=10', '--job-name={JOB_NAME}',\n"
        "     '--output=/dev/null', '--wrap', 'sleep 300'],\n"
        "    capture_output=True, text=True, check=True).stdout.strip()\n"
        "while True:  # until Slurm itself says the job is gone\n"
        "    state = subprocess.run(['squeue', '--noheader', f'--jobs={job}', '--format=%T'],\n"
        "                           capture_output=True, text=True)\n"
        "    if state.returncode == 0 and not state.stdout.strip():\n"
        "        break\n"
        "    time.sleep(1)"
    ]


def node_of_running_job(timeout_s: float = 120) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        listing = subprocess.run(
            ["squeue", "--noheader", f"--name={JOB_NAME}", "--states=running", "--format=%N"],
            capture_output=True,
            text=True,
        ).stdout.split()
        if listing:
            return listing[0]
        time.sleep(0.5)
    raise AssertionError(f"the example's job {JOB_NAME} never ran")


def run_and_kill(
    profile: Profile, examples_dir: Path, kill: Callable[[str], None]
) -> tuple[dict[str, tuple[JobResult, float]], float]:
    """Run the examples in a thread, kill a daemon once the job runs; each verdict with its time."""
    verdicts: dict[str, tuple[JobResult, float]] = {}
    runs: list[RunResult] = []

    def record(result: JobResult) -> None:
        verdicts[result.example] = (result, time.monotonic())

    thread = threading.Thread(
        target=lambda: runs.append(run_examples(profile=profile, examples_dir=examples_dir, on_result=record))
    )
    thread.start()
    try:
        kill(node_of_running_job())
        killed = time.monotonic()
        thread.join(timeout=300)
        assert not thread.is_alive(), "the run did not end"
    finally:
        up(profile, log=lambda message: None)
        subprocess.run(["scancel", f"--name={JOB_NAME}"], check=False)
        thread.join(timeout=120)
    return verdicts, killed


def every_node_ready(profile: Profile) -> dict[str, str]:
    states = node_states()
    return {
        n.name: states.get(n.name, "") for n in site_nodes(profile) if not node_ready(states.get(n.name, ""))
    }


def kill_all(name: str) -> Callable[[str], None]:
    def kill(node: str) -> None:
        for pid in find_processes(name):
            os.kill(pid, signal.SIGKILL)

    return kill


def kill_slurmd(node: str) -> None:
    os.kill(slurmd_pids()[node], signal.SIGKILL)


@pytest.mark.parametrize(
    ("kill", "reason"),
    [
        (kill_all("munged"), "munged does not answer on this machine"),
        (kill_all("slurmctld"), "slurmctld does not answer"),
        (kill_slurmd, "slurmd on node "),
    ],
    ids=["munged", "slurmctld", "slurmd"],
)
def test_a_daemon_killed_during_a_run_fails_what_needs_it_within_seconds(
    profile: Profile,
    write_example: WriteExample,
    examples_dir: Path,
    kill: Callable[[str], None],
    reason: str,
) -> None:
    write_example(
        "waits-for-its-job", waits_for_its_job(profile.batch_partition.name), timeout=600, requires=["slurm"]
    )
    write_example("needs-no-slurm", ["import time\ntime.sleep(20)"])
    verdicts, killed = run_and_kill(profile, examples_dir, kill)
    result, arrived = verdicts["waits-for-its-job"]
    assert result.status == "failed" and result.reason.startswith(reason), result.reason
    assert arrived - killed < VERDICT_WITHIN_S
    assert verdicts["needs-no-slurm"][0].status == "passed"
    assert every_node_ready(profile) == {}
