"""`site up` brings the site back to its profile; `site reset` starts it anew.

These tests change the running site on purpose (a limit, a partition's state, the whole
profile) and check that `up` alone puts everything back, as an admin would rely on.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hpc_handbook.profile import Profile, load_profile
from hpc_handbook.reference_site.accounting import accounting_drift, accounting_state, controller_problems
from hpc_handbook.reference_site.lifecycle import load_manifest, reset, up
from hpc_handbook.reference_site.paths import KERNELSPEC_DIR, ReferenceSiteError, site_layout
from hpc_handbook.reference_site.slurm import running_partitions, slurm_minutes
from hpc_handbook.reference_site.slurm_jobs import cancel_jobs, slurm_jobs

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "profiles" / "tiny.yml"
pytestmark = [pytest.mark.site, pytest.mark.slurm]


def quiet(message: str) -> None:
    pass


def test_up_puts_back_limits_and_states_changed_at_run_time(site: Profile) -> None:
    batch, interactive = site.batch_partition.name, site.interactive_partition.name
    subprocess.run(["scontrol", "update", f"PartitionName={batch}", "MaxTime=7"], check=True)
    subprocess.run(["scontrol", "update", f"PartitionName={interactive}", "State=DOWN"], check=True)
    assert slurm_minutes(running_partitions()[batch]["MaxTime"]) == 7
    messages: list[str] = []
    up(site, log=messages.append)
    running = running_partitions()
    wanted_minutes = slurm_minutes(site.partition(batch).limits.max_walltime)
    assert slurm_minutes(running[batch]["MaxTime"]) == wanted_minutes
    assert running[interactive]["State"] == "UP"
    assert any(f"partition {batch}: putting back MaxTime" in m for m in messages), messages


def test_up_removes_a_partition_created_at_run_time(site: Profile) -> None:
    subprocess.run(["scontrol", "create", "PartitionName=handbook-extra", "Nodes=ALL"], check=True)
    up(site, log=quiet)
    assert "handbook-extra" not in running_partitions()


def test_another_centres_profile_replaces_the_site_and_back(site: Profile) -> None:
    tiny = load_profile(TINY)
    try:
        up(tiny, log=quiet)
        assert set(running_partitions()) == {p.name for p in tiny.partitions}
        installed = {path.name for path in KERNELSPEC_DIR.iterdir()}
        assert {k.name for k in tiny.kernels} <= installed
        assert not {k.name for k in site.kernels} & installed, "the old profile's kernels are left"
        assert not site_layout(site).prefix.exists(), "the old profile's software is left"
        # A job runs, so the controller really works for the new cluster.
        subprocess.run(
            ["srun", f"--partition={tiny.batch_partition.name}", "--time=1", "true"], check=True, timeout=60
        )
    finally:
        up(site, log=quiet)
    assert set(running_partitions()) == {p.name for p in site.partitions}
    assert load_manifest()["site"] == site.site.name
    # The accounts were made anew, and slurmctld knows them with their projects: their jobs are taken.
    assert site.hub is not None
    will_run = subprocess.run(
        ["runuser", "-u", site.hub.doc_ci_user, "--", "sbatch", "--test-only",
         f"--partition={site.batch_partition.name}", "--time=5", "--wrap", "true"],
        capture_output=True, text=True, timeout=60, cwd="/tmp",
    )  # fmt: skip
    assert will_run.returncode == 0, will_run.stderr
    assert accounting_drift(site, accounting_state(site)) == [] and controller_problems(site) == []
    assert not site_layout(tiny).prefix.exists(), "the other profile's software is left"


def test_reset_refuses_while_jobs_are_queued(site: Profile, job_tag: str) -> None:
    job = subprocess.run(
        [
            "sbatch",
            "--parsable",
            f"--partition={site.batch_partition.name}",
            "--time=2",
            f"--comment={job_tag}",
            "--wrap",
            "sleep 120",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        with pytest.raises(ReferenceSiteError, match=r"reset would cancel them.*--force"):
            reset(site, log=quiet)
        assert job in {j.job_id for j in slurm_jobs()}, "the refused reset touched the job"
    finally:
        cancel_jobs(job_tag)


def test_after_a_reset_job_ids_start_at_1_and_the_job_printing_examples_pass(site: Profile) -> None:
    from hpc_handbook.doc_ci.run.runner import run_examples

    reset(site, log=quiet)
    first = subprocess.run(
        [
            "sbatch",
            "--parsable",
            f"--partition={site.batch_partition.name}",
            "--time=1",
            "--output=/dev/null",
            "--wrap",
            "true",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert first == "1"
    # These print the ids of the jobs they submit: on a new site those have one digit.
    names = ["recipe-batch-allocation-kernel", "recipe-batch-orchestration", "start-first-batch-job"]
    run = run_examples(profile=site, examples_dir=REPO / "examples", names=names)
    failures = [f"{r.example}: {r.reason}\n{r.diff}" for r in run.failed]
    assert not failures, failures
    assert sorted(r.example for r in run.results if r.status == "passed") == sorted(names)
