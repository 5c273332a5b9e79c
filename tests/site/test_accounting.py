"""Slurm accounting on the reference site: slurmdbd with MariaDB, the profile's projects in it.

As on a real site: `sacct` and `sacctmgr` answer, every job is charged to a project its user is
in, Slurm itself refuses a job beyond its project's limits, the spawn form asks for the project
when a user has more than one and refuses what Slurm would, and `site up` puts back a project
that was changed behind the profile's back.
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import wait_until

from hpc_handbook.hub.client import HubClient, HubError
from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.accounting import accounting_drift, accounting_state
from hpc_handbook.reference_site.lifecycle import up

pytestmark = [pytest.mark.site, pytest.mark.slurm]

SERVER = "project-test"


def limited_project(site: Profile, user: str) -> str:
    """A project of the user's with a CPU and a walltime limit (the novice's second project)."""
    assert site.reference_site is not None
    account = next(a for a in site.reference_site.accounts if a.name == user)
    for name in account.projects:
        limits = site.project(name).limits
        if limits.max_cpus and limits.max_walltime:
            return name
    pytest.skip(f"{user} has no project with CPU and walltime limits in this profile")


def sbatch_as(user: str, *options: str) -> subprocess.CompletedProcess[str]:
    """Submit a held job as the user; one that Slurm accepts is cancelled at once."""
    result = subprocess.run(
        ["runuser", "-u", user, "--", "sbatch", "--hold", "--parsable", *options, "--wrap", "true"],
        capture_output=True, text=True, timeout=60, cwd="/tmp",
    )  # fmt: skip
    if result.returncode == 0:
        subprocess.run(["scancel", result.stdout.strip().split(";")[0]], check=True, timeout=30)
    return result


def test_sacctmgr_holds_the_profiles_projects_and_their_members(site: Profile) -> None:
    accounts = subprocess.run(
        ["sacctmgr", "--noheader", "--parsable2", "show", "account", "format=account"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    assert {p.name for p in site.projects} <= set(accounts)
    assert accounting_drift(site, accounting_state(site)) == []


def test_a_finished_job_is_in_sacct_with_its_project(site: Profile, novice: tuple[HubClient, str]) -> None:
    _, user = novice
    project = limited_project(site, user)
    job = subprocess.run(
        ["runuser", "-u", user, "--", "sbatch", "--parsable", "--wait", f"--account={project}",
         f"--partition={site.batch_partition.name}", "--time=00:05:00", "--wrap", "true"],
        capture_output=True, text=True, timeout=120, cwd="/tmp", check=True,
    ).stdout.strip()  # fmt: skip

    def recorded() -> bool:
        sacct = ["sacct", "--noheader", "--parsable2", "-X", "-j", job, "--format=JobID,User,Account,State"]
        answer = subprocess.run(sacct, capture_output=True, text=True, check=False).stdout
        return f"{job}|{user}|{project}|COMPLETED" in answer.splitlines()

    assert wait_until(recorded, 30), f"job {job} is not in sacct with project {project}"


def test_slurm_itself_refuses_what_a_project_does_not_allow(
    site: Profile, novice: tuple[HubClient, str]
) -> None:
    _, user = novice
    project = limited_project(site, user)
    limits = site.project(project).limits
    assert limits.max_cpus is not None
    batch = site.batch_partition
    longer = "23:00:00"  # within the batch partition, beyond the project
    assert (
        sbatch_as(user, f"--account={project}", f"--partition={batch.name}", "--time=00:10:00").returncode
        == 0
    )

    too_long = sbatch_as(user, f"--account={project}", f"--partition={batch.name}", f"--time={longer}")
    assert too_long.returncode != 0
    assert "AssocMaxWallDurationPerJobLimit" in too_long.stderr, too_long.stderr

    nodes = limits.max_cpus // batch.node_setup.cpus + 1
    size = [f"--nodes={nodes}", f"--cpus-per-task={batch.node_setup.cpus}", "--mem=1G"]
    too_big = sbatch_as(user, f"--account={project}", f"--partition={batch.name}", "--time=00:10:00", *size)
    assert too_big.returncode != 0
    assert "AssocGrpCpuLimit" in too_big.stderr, too_big.stderr

    stranger = sbatch_as(user, "--account=rcc-nowhere", f"--partition={batch.name}", "--time=00:10:00")
    assert "Invalid account" in stranger.stderr, stranger.stderr


def test_the_form_asks_for_the_project_and_the_job_is_charged_to_it(
    site: Profile, novice: tuple[HubClient, str]
) -> None:
    client, user = novice
    project = limited_project(site, user)
    form = client.session.get(f"{client.url}/hub/spawn/{user}/{SERVER}", timeout=60).text
    assert 'name="project"' in form
    assert f'<option value="{project}">' in form
    partition = site.interactive_partition.name
    options = {"place": partition, "project": project, "walltime": "00:30:00", "cpus": 1}
    outcome = client.start_and_wait(user, SERVER, options, timeout_s=240)
    try:
        assert outcome.ready, outcome.messages
        charged = subprocess.run(
            ["squeue", "--noheader", "--user", user, "--format=%a %P"],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout.split()  # fmt: skip
        assert charged == [project, partition]
    finally:
        client.stop(user, SERVER)


def test_the_hub_refuses_what_the_project_does_not_allow_before_anything_is_queued(
    site: Profile, novice: tuple[HubClient, str]
) -> None:
    client, user = novice
    project = limited_project(site, user)
    limits = site.project(project).limits
    batch = site.batch_partition
    nodes = (limits.max_cpus or 0) // batch.node_setup.cpus + 1
    asked = [
        ({"project": "rcc-nowhere"}, "project 'rcc-nowhere': you are not a member"),
        ({"project": project, "walltime": "23:00:00"}, f"beyond project {project}'s limit"),
        (
            {"project": project, "nodes": nodes, "cpus": batch.node_setup.cpus},
            f"beyond project {project}'s limit",
        ),
    ]
    for options, reason in asked:
        with pytest.raises(HubError) as error:
            client.start(user, SERVER, {"place": batch.name, **options})
        assert "HTTP 400" in str(error.value) and reason in str(error.value), error.value
        assert wait_until(lambda: not client.servers(user).get(SERVER, {}).get("pending"), 30)
    jobs = subprocess.run(
        ["squeue", "--noheader", "--user", user], capture_output=True, text=True, timeout=30
    )
    assert jobs.stdout.strip() == ""


def test_up_puts_back_a_project_changed_behind_the_profiles_back(
    site: Profile, novice: tuple[HubClient, str]
) -> None:
    _, user = novice
    project = limited_project(site, user)
    change = ["sacctmgr", "--immediate"]
    subprocess.run([*change, "modify", "account", f"name={project}", "set", "GrpTRES=cpu=999"], check=True)
    subprocess.run([*change, "delete", "user", f"name={user}", f"account={project}"], check=True)
    subprocess.run([*change, "add", "account", "rcc-stray", "description=stray"], check=True)
    drift = accounting_drift(site, accounting_state(site))
    assert any(f"project {project} has GrpTRES=cpu=999" in line for line in drift), drift
    assert any(line.startswith(f"user {user} is in") for line in drift), drift
    assert "project rcc-stray is not in the profile" in drift
    messages: list[str] = []
    up(site, log=messages.append)
    assert accounting_drift(site, accounting_state(site)) == []
    assert f"accounting: adding user {user} to project {project}" in messages
    assert "accounting: removing project rcc-stray (not in the profile)" in messages
