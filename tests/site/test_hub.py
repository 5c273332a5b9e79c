"""The Jupyter service of the reference site: log in, the spawn form, servers as Slurm jobs, as the user.

This walks the novice pages' path for real: the novice account logs in with its
password, starts a server on the interactive partition, finds the profile's kernels in
JupyterLab's list, runs code on each as itself, and stops the server; the Slurm job is
then gone. Nothing here is mocked: the hub, the proxy, Slurm and PAM are the site's own.
"""

from __future__ import annotations

import asyncio
import pwd
import re

import pytest
from conftest import user_jobs, wait_until

from hpc_handbook.hub.client import HubClient, HubError
from hpc_handbook.hub.kernels import run_once, stream_text
from hpc_handbook.probe.hub import parse_spawn_form
from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.hub import hub_url, spawn_places
from hpc_handbook.reference_site.users import account_by_purpose

#: What each kernel language prints for "which user am I".
WHO_AM_I = {
    "python": "import os; print(os.getuid())",
    "bash": "id -u",
    "r": 'cat(system("id -u", intern = TRUE))',
}


def test_wrong_password_is_refused(site: Profile) -> None:
    name = account_by_purpose(site, "novice").name
    with pytest.raises(HubError, match="logging in as"):
        HubClient.login(hub_url(site), name, "not-the-password")


def test_spawn_form_offers_the_profiles_places(site: Profile, novice: tuple[HubClient, str]) -> None:
    client, name = novice
    page = client.session.get(f"{client.url}/hub/spawn/{name}", timeout=30).text
    offered = list(parse_spawn_form(page).places)
    assert offered == ["login", *(p.name for p in site.jupyter_partitions)]
    assert "largemem" not in offered  # jupyter: false
    for partition in site.jupyter_partitions:
        assert partition.limits.max_walltime in page  # the hint names each partition's limit


def test_novice_server_runs_as_a_slurm_job_with_the_sites_kernels(
    site: Profile, novice: tuple[HubClient, str]
) -> None:
    client, name = novice
    partition = site.interactive_partition.name
    outcome = client.start_and_wait(name, "", {"place": partition, "walltime": "00:30:00"}, timeout_s=180)
    assert outcome.ready, outcome.messages
    jobs = user_jobs(name)
    assert [(p, j) for _, p, j in jobs] == [(partition, "jupyter-server")], jobs
    specs = client.server_api(name, "", "/kernelspecs")["kernelspecs"]
    assert sorted(specs) == sorted(k.name for k in site.kernels)
    uid = str(pwd.getpwnam(name).pw_uid)
    for kernel in site.kernels:
        if kernel.start == "slurm":
            continue  # a kernel in a job of its own: the next test
        code = WHO_AM_I[kernel.language.lower()]
        run = asyncio.run(run_once(client, name, "", kernel.name, code))
        assert run.status == "ok", (kernel.name, run.error)
        # A container kernel runs as the container's root, which rootless podman maps to the user:
        # its files are the user's (tests/site/test_container_kernel.py), its uid inside is 0.
        expected = "0" if kernel.start == "container" else uid
        assert stream_text(run).strip() == expected, (kernel.name, run.outputs)
    client.stop(name, "")
    assert wait_until(lambda: not user_jobs(name), 30), user_jobs(name)


def test_slurm_kernel_from_a_users_server_runs_in_the_users_own_job(
    site: Profile, novice: tuple[HubClient, str]
) -> None:
    client, name = novice
    kernel = site.kernel_roles["slurm"]
    assert client.start_and_wait(name, "", {"place": "login"}, timeout_s=120).ready
    assert user_jobs(name) == []  # the login node queues nothing
    code = "import os; print(os.getuid(), os.environ['SLURM_JOB_PARTITION'])"
    run = asyncio.run(run_once(client, name, "", kernel.name, code, timeout_s=180))
    assert run.status == "ok", run.error
    assert stream_text(run).split() == [str(pwd.getpwnam(name).pw_uid), kernel.partition]
    assert wait_until(lambda: not user_jobs(name), 30), f"kernel job left: {user_jobs(name)}"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"place": "interactive", "walltime": "99:00:00"},
            "beyond partition interactive's limit of 04:00:00",
        ),
        ({"place": "interactive", "nodes": 5}, "nodes 5 is beyond partition interactive's limit of 1"),
        ({"place": "largemem"}, "place 'largemem': expected one of login, interactive, batch"),
        ({"place": "batch", "extra_sbatch": "#SBATCH --time=99:00:00"}, "--time is set by the form"),
        ({"place": "batch", "extra_sbatch": "rm -rf ~"}, "expected '#SBATCH --option=value'"),
        ({"place": "batch", "memory": "1T"}, "unknown option(s) memory"),
    ],
)
def test_options_beyond_limits_are_refused_before_anything_is_queued(
    site: Profile, novice: tuple[HubClient, str], options: dict[str, object], message: str
) -> None:
    client, name = novice
    with pytest.raises(HubError, match=re.escape(message)) as refused:
        client.start(name, "refused", options)
    assert "HTTP 400" in str(refused.value)
    assert user_jobs(name) == []


def test_the_form_shows_why_it_refused(site: Profile, novice: tuple[HubClient, str]) -> None:
    client, name = novice
    response = client.session.post(
        f"{client.url}/hub/spawn/{name}",
        data={"place": "interactive", "walltime": "12:00:00", "_xsrf": client._xsrf_headers()["X-XSRFToken"]},
        timeout=30,
    )
    assert "walltime 12:00:00 is beyond partition interactive&#39;s limit of 04:00:00" in response.text
    assert user_jobs(name) == []


def test_spawn_places_follow_the_profile(site: Profile) -> None:
    places = spawn_places(site)
    assert [p.partition for p in places] == [None, *(p.name for p in site.jupyter_partitions)]


def test_a_hub_that_does_not_answer_is_named(site: Profile) -> None:
    with pytest.raises(HubError, match=r"the hub at http://127\.0\.0\.1:9 does not answer"):
        with HubClient.with_token("http://127.0.0.1:9", "x") as client:
            client.version()
