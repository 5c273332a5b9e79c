"""Fixtures for the smoke tests: the reference site, up, and nothing of a test left behind.

The site is brought up once per session (fast when it already is). When it
cannot be, every smoke test fails: a site that is down must never look like a
skipped test.

Every job and kernel a test starts carries this session's tag: jobs in their
Slurm comment, processes in their environment. After each test nothing with the
tag may remain; what does is swept up and the test fails. Other people's jobs
on the shared site are never touched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpc_handbook.hub.client import HubClient
from hpc_handbook.processes import processes_tagged
from hpc_handbook.profile import PROFILE_ENV_VAR, Profile, load_profile
from hpc_handbook.reference_site.hub import hub_url
from hpc_handbook.reference_site.lifecycle import up
from hpc_handbook.reference_site.paths import ReferenceSiteError
from hpc_handbook.reference_site.slurm_jobs import cancel_jobs, slurm_jobs
from hpc_handbook.reference_site.users import PASSWORDS_FILE, account_by_purpose
from hpc_handbook.slurm import KERNEL_JOB_COMMENT_ENV, SlurmJob

REPO = Path(__file__).resolve().parents[2]
PROFILE = load_profile(os.environ.get(PROFILE_ENV_VAR) or REPO / "site.yml")
SESSION_TAG = f"handbook-smoke-{os.getpid()}"
# How long a cancelled job or a shut-down kernel may take to disappear.
CLEANUP_WAIT_S = 30.0


@pytest.fixture(scope="session")
def site() -> Profile:
    """The profile of the running site, after `site up`; fails (never skips) when it cannot be up."""
    messages: list[str] = []
    try:
        up(PROFILE, log=messages.append)
    except ReferenceSiteError as error:
        pytest.fail(f"the reference site is not up: {error}", pytrace=False)
    return PROFILE


def tagged_processes(tag: str) -> list[int]:
    """Live processes whose environment carries the tag: kernels, launchers, sruns of our tests."""
    return processes_tagged(KERNEL_JOB_COMMENT_ENV, lambda value: value == tag)


def _leftovers(tag: str) -> tuple[list[SlurmJob], list[int]]:
    return slurm_jobs(tag), tagged_processes(tag)


@pytest.fixture(autouse=True)
def job_tag(site: Profile, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Tag this test's jobs and kernels; afterwards, fail if any of them is still there."""
    monkeypatch.setenv(KERNEL_JOB_COMMENT_ENV, SESSION_TAG)
    yield SESSION_TAG
    deadline = time.monotonic() + CLEANUP_WAIT_S
    jobs, pids = _leftovers(SESSION_TAG)
    while (jobs or pids) and time.monotonic() < deadline:
        time.sleep(0.5)
        jobs, pids = _leftovers(SESSION_TAG)
    if not (jobs or pids):
        return
    # Sweep, so one leak does not fail the tests after it too.
    cancel_jobs(SESSION_TAG)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    pytest.fail(f"left behind: jobs {[j.job_id + ' ' + j.name for j in jobs]}, processes {pids}")


def user_jobs(user: str) -> list[tuple[str, str, str]]:
    """(job id, partition, name) of the user's queued or running jobs."""
    out = subprocess.run(
        ["squeue", "--noheader", "--user", user, "--format=%i %P %j"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    return [tuple(line.split()) for line in out.splitlines() if line.strip()]  # type: ignore[misc]


def wait_until(predicate, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return predicate()


@pytest.fixture
def novice(site: Profile) -> Iterator[tuple[HubClient, str]]:
    """The novice account, logged in through the hub's login form; its servers stopped afterwards."""
    name = account_by_purpose(site, "novice").name
    password = json.loads(PASSWORDS_FILE.read_text())[name]
    client = HubClient.login(hub_url(site), name, password)
    yield client, name
    for server in list(client.servers(name)):
        client.stop(name, server)
    client.close()
    assert wait_until(lambda: not user_jobs(name), 30), f"left behind: {user_jobs(name)}"
