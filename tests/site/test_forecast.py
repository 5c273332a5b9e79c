"""The start forecast on the real hub: on the form for every place, for the size entered, for a
partition that is down, and on the progress page of a server that waits in the queue."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_until

from hpc_handbook.data.forecast_accuracy import load_forecast_accuracy
from hpc_handbook.hub.client import HubClient
from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.spawn_options import LOGIN_NODE

pytestmark = [pytest.mark.site, pytest.mark.slurm]

SERVER = "forecast-test"


def forecast(client: HubClient, **options: object) -> str:
    answer = client.session.get(f"{client.url}/hub/forecast", params=options, timeout=60)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["text"])


def test_the_form_shows_a_forecast_for_every_place(site: Profile, novice: tuple[HubClient, str]) -> None:
    client, user = novice
    form = client.session.get(f"{client.url}/hub/spawn/{user}/{SERVER}", timeout=60).text
    for partition in site.jupyter_partitions:
        assert f'<li data-place="{partition.name}">{partition.name}: likely to start ' in form, partition.name
    assert f'<li data-place="{LOGIN_NODE}">The login node starts your server at once' in form
    assert 'data-url="/hub/forecast"' in form


def test_the_forecast_follows_the_size_and_project_entered(
    site: Profile, novice: tuple[HubClient, str]
) -> None:
    client, _ = novice
    batch = site.batch_partition
    size = {"place": batch.name, "nodes": 2, "cpus": batch.node_setup.cpus, "walltime": "02:00:00"}
    assert forecast(client, **size).startswith(f"{batch.name}: likely to start ")
    limited = next(
        p for p in site.projects if p.limits.max_cpus and p.limits.max_cpus < 2 * batch.node_setup.cpus
    )
    refused = forecast(client, **size, project=limited.name)
    assert refused.startswith("The form would refuse this: ") and f"project {limited.name}'s limit" in refused
    assert forecast(client, place=LOGIN_NODE) == "The login node starts your server at once, without a queue."


def test_the_form_says_when_a_partition_is_down(site: Profile, novice: tuple[HubClient, str]) -> None:
    client, _ = novice
    partition = site.interactive_partition.name
    subprocess.run(["scontrol", "update", f"PartitionName={partition}", "State=DOWN"], check=True, timeout=30)
    try:
        # The hub reuses Slurm's answers for a few seconds.
        assert wait_until(lambda: "the partition is down" in forecast(client, place=partition), 30)
        said = forecast(client, place=partition)
        assert said.startswith(f"{partition}: no start time can be estimated now.")
    finally:
        subprocess.run(
            ["scontrol", "update", f"PartitionName={partition}", "State=UP"], check=True, timeout=30
        )


@pytest.fixture
def full_partition(site: Profile, job_tag: str) -> Iterator[str]:
    """The interactive partition with every CPU taken by a job of this test's, cancelled afterwards."""
    partition = site.interactive_partition
    assert partition.node_setup is not None
    blocker = subprocess.run(
        ["sbatch", "--parsable", f"--partition={partition.name}", f"--comment={job_tag}", "--time=00:10:00",
         f"--cpus-per-task={partition.node_setup.cpus}", "--mem=1G", "--output=/dev/null",
         "--wrap", "sleep 600"],
        capture_output=True, text=True, check=True, timeout=60, cwd="/tmp",
    ).stdout.strip()  # fmt: skip
    running = ["squeue", "--noheader", "--jobs", blocker, "--format=%T"]
    assert wait_until(
        lambda: subprocess.run(running, capture_output=True, text=True).stdout.strip() == "RUNNING", 60
    )
    yield partition.name
    subprocess.run(["scancel", blocker], check=True, timeout=30)


def test_a_queued_server_shows_slurms_estimate_on_its_progress_page(
    site: Profile, novice: tuple[HubClient, str], full_partition: str
) -> None:
    client, user = novice
    client.start(user, SERVER, {"place": full_partition, "walltime": "00:30:00", "cpus": 1})
    said = []
    try:
        for event in client.progress(user, SERVER, timeout_s=60):
            said.append(str(event.get("message", "")))
            if "Pending in the queue: Slurm expects to start your server at" in said[-1]:
                break
    finally:
        client.stop(user, SERVER)
    assert any("Pending in the queue: Slurm expects to start your server at" in line for line in said), said


def test_the_forecast_bench_sets_real_starts_against_the_forms_forecast(
    site: Profile, tmp_path: Path
) -> None:
    from hpc_handbook.reference_site.forecast_bench import LOAD_NAME, PROBE_NAME, run_forecast_bench

    output = tmp_path / "forecast-accuracy.json"
    assert run_forecast_bench(site, probes=2, load_jobs=2, output=output) == 0
    measured = load_forecast_accuracy(output)
    assert measured is not None and measured.partition == site.batch_partition.name
    assert len(measured.probes) == 2
    for probe in measured.probes:
        assert probe.scheduler_s is not None and probe.started_s >= 0
    assert measured.scheduler_median_abs_error_s is not None
    names = subprocess.run(
        ["squeue", "--noheader", "--format=%j"], capture_output=True, text=True, timeout=30
    )
    assert not {LOAD_NAME, PROBE_NAME} & set(names.stdout.split()), "the bench left jobs queued"
