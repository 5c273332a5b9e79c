"""JupyterLab environments, users' own start-up scripts and the idle culler, on the real hub.

The novice account asks the hub, through its REST API as a browser's session does, for servers
in each environment and from scripts in its own home: good ones start, each bad one is refused
before anything is queued with a message that names the script and what to change, and nothing
is left running. The idle culler, the hub's own service, is run as the doc CI's account with a
short limit: its idle server in a Slurm job is stopped and the job ends.
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_until

from hpc_handbook.hub.client import HubClient, HubError
from hpc_handbook.probe.users_server import probe_users_server
from hpc_handbook.profile import OWN_ENVIRONMENT, Profile
from hpc_handbook.reference_site.hub import hub_layout, hub_url
from hpc_handbook.reference_site.server_environment import form_environments
from hpc_handbook.reference_site.spawn_options import LOGIN_NODE

pytestmark = [pytest.mark.site]

SERVER = "env-test"


@pytest.fixture
def start_script(site: Profile, novice: tuple[HubClient, str]) -> Iterator[Path]:
    """The novice's start-up script path; whatever was there is put back afterwards."""
    own = site.jupyter.own_environment
    if own is None:
        pytest.skip("the profile offers no own environment")
    account = pwd.getpwnam(novice[1])
    path = Path(account.pw_dir) / own.script
    before = path.read_bytes() if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chown(path.parent, account.pw_uid, account.pw_gid)
    yield path
    if before is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(before)


def write_script(path: Path, user: str, text: str, mode: int = 0o700, owner: str | None = None) -> bytes:
    account = pwd.getpwnam(owner or user)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    os.chown(path, account.pw_uid, account.pw_gid)
    return path.read_bytes()


def default_server(site: Profile) -> str:
    return f"{form_environments(site, dt.date.today())[0].bin}/jupyterhub-singleuser"


def script_processes(user: str, path: Path) -> list[str]:
    listed = subprocess.run(["pgrep", "-a", "-u", user, "-f", str(path)], capture_output=True, text=True)
    return listed.stdout.splitlines()


def refused(client: HubClient, user: str, options: dict[str, str]) -> str:
    """The hub's answer to a spawn it must refuse: the reason, and no server left behind."""
    with pytest.raises(HubError) as error:
        client.start(user, SERVER, options)
    assert "HTTP 400" in str(error.value), error.value

    def settled() -> bool:
        entry = client.servers(user).get(SERVER)
        return entry is None or (not entry.get("pending") and not entry.get("ready"))

    assert wait_until(settled, 30), client.servers(user)
    return str(error.value)


def test_each_environment_starts_its_own_jupyterlab(site: Profile, novice: tuple[HubClient, str]) -> None:
    client, user = novice
    for environment in site.jupyter.available(dt.date.today()):
        outcome = client.start_and_wait(user, SERVER, {"place": LOGIN_NODE, "environment": environment.name})
        assert outcome.ready, outcome.messages
        try:
            jupyter = probe_users_server(client, user, SERVER)
        finally:
            client.stop(user, SERVER)
        if environment.jupyterlab is not None:
            assert jupyter.packages["jupyterlab"] == environment.jupyterlab, environment.name
        for extension in environment.extensions:
            assert jupyter.has_extension(extension), (environment.name, extension)


def test_an_unknown_environment_is_refused_with_the_choices(
    site: Profile, novice: tuple[HubClient, str]
) -> None:
    client, user = novice
    reason = refused(client, user, {"place": LOGIN_NODE, "environment": "lab-3"})
    assert "environment 'lab-3': this site offers" in reason
    assert site.jupyter.default_environment.name in reason


def test_a_spawn_link_starts_the_environment_it_names(site: Profile, novice: tuple[HubClient, str]) -> None:
    # jupyterhub-moss's "spawn through a URL": the form's fields as query arguments of /hub/spawn.
    client, user = novice
    previous = next(e for e in site.jupyter.available(dt.date.today()) if not e.default)
    link = f"{client.url}/hub/spawn/{user}/{SERVER}?environment={previous.name}"
    client.session.get(link, timeout=120)
    try:
        assert wait_until(lambda: client.servers(user).get(SERVER, {}).get("ready"), 120), client.servers(
            user
        )
        jupyter = probe_users_server(client, user, SERVER)
        assert jupyter.packages["jupyterlab"] == previous.jupyterlab
        # No place in the link: the form's default, the login node.
        assert client.servers(user)[SERVER]["user_options"]["place"] == LOGIN_NODE
    finally:
        client.stop(user, SERVER)


def test_a_spawn_link_the_site_cannot_serve_shows_the_form_with_the_reason(
    site: Profile, novice: tuple[HubClient, str]
) -> None:
    client, user = novice
    page = client.session.get(f"{client.url}/hub/spawn/{user}/{SERVER}?environment=lab-3", timeout=60)
    assert "environment &#39;lab-3&#39;: this site offers" in page.text or "environment 'lab-3'" in page.text
    assert 'name="environment"' in page.text  # the form, to pick from what the site has
    assert SERVER not in client.servers(user)


@pytest.mark.parametrize("place", ["login", "slurm"])
def test_a_good_start_script_starts_the_users_server(
    site: Profile, novice: tuple[HubClient, str], start_script: Path, place: str
) -> None:
    client, user = novice
    write_script(start_script, user, f'#!/bin/bash\nexec {default_server(site)} "$@"\n')
    options: dict[str, object] = {"place": LOGIN_NODE, "environment": OWN_ENVIRONMENT}
    if place == "slurm":
        options.update(place=site.interactive_partition.name, walltime="00:10:00", cpus=1)
    outcome = client.start_and_wait(user, SERVER, options, timeout_s=180)
    assert outcome.ready, outcome.messages
    client.stop(user, SERVER)
    assert wait_until(lambda: not script_processes(user, start_script), 30)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "does not exist"),
        ("not executable", "chmod u+x"),
        ("writable by others", "chmod go-w"),
        ("someone else's", "belongs to root"),
        ("exits at once", "ended with status 3"),
        ("an old server", "install 'jupyterhub>=5,<6'"),
    ],
)
def test_a_bad_start_script_is_refused_before_anything_is_queued(
    site: Profile, novice: tuple[HubClient, str], start_script: Path, case: str, expected: str
) -> None:
    client, user = novice
    good = f'#!/bin/bash\nexec {default_server(site)} "$@"\n'
    written = None
    if case == "not executable":
        written = write_script(start_script, user, good, mode=0o600)
    elif case == "writable by others":
        written = write_script(start_script, user, good, mode=0o722)
    elif case == "someone else's":
        written = write_script(start_script, user, good, owner="root")
    elif case == "exits at once":
        written = write_script(start_script, user, "#!/bin/bash\necho no environment here >&2\nexit 3\n")
    elif case == "an old server":
        written = write_script(start_script, user, "#!/bin/bash\necho 4.1.6\n")
    reason = refused(client, user, {"place": LOGIN_NODE, "environment": OWN_ENVIRONMENT})
    assert expected in reason and f"~/{site.jupyter.own_environment.script}" in reason, reason
    assert not script_processes(user, start_script)
    if written is not None:
        assert start_script.read_bytes() == written, "the user's script was changed"


def test_a_script_that_never_answers_is_refused_and_ended(
    site: Profile, novice: tuple[HubClient, str], start_script: Path
) -> None:
    client, user = novice
    write_script(start_script, user, "#!/bin/bash\nsleep 600\n")
    started = time.monotonic()
    # The check outlasts the hub's slow_spawn_timeout (10 s): the API answers 202 and the spawn
    # then fails, with the reason on the progress page, within the start timeout.
    outcome = client.start_and_wait(user, SERVER, {"place": LOGIN_NODE, "environment": OWN_ENVIRONMENT})
    reason = " ".join(outcome.messages)
    assert not outcome.ready and "did not end within 30 s" in reason, outcome.messages
    assert time.monotonic() - started < 60
    assert wait_until(
        lambda: SERVER not in client.servers(user) or not client.servers(user)[SERVER].get("pending"), 30
    )
    assert wait_until(lambda: not script_processes(user, start_script), 10), script_processes(
        user, start_script
    )


@pytest.mark.parametrize("place", ["login", "slurm"])
def test_a_script_that_starts_no_server_fails_the_spawn_with_its_name(
    site: Profile, novice: tuple[HubClient, str], start_script: Path, place: str
) -> None:
    """It passes the check (it says the hub's version) but then ends without a server."""
    client, user = novice
    answer = client.version()
    written = write_script(
        start_script, user, f'#!/bin/bash\n[ "$1" = --version ] && echo {answer}\nexit 0\n'
    )
    options = {"place": LOGIN_NODE, "environment": OWN_ENVIRONMENT}
    if place == "slurm":
        options.update(place=site.interactive_partition.name, walltime="00:10:00", cpus=1)
    started = time.monotonic()
    try:
        outcome = client.start_and_wait(user, SERVER, options, timeout_s=180)
    except HubError as error:  # it failed before the hub's slow_spawn_timeout: the API answers why
        reason = str(error)
    else:  # it failed later: the progress page says why
        assert not outcome.ready
        reason = " ".join(outcome.messages)
    assert f"~/{site.jupyter.own_environment.script} started no server" in reason, reason
    # Long before the start timeout: the ended script is noticed, not waited for.
    assert time.monotonic() - started < 60, reason
    assert wait_until(lambda: not client.servers(user).get(SERVER, {}).get("pending"), 30)
    assert start_script.read_bytes() == written, "the user's script was changed"


def test_an_idle_server_in_a_slurm_job_is_culled_and_its_job_ends(site: Profile) -> None:
    """The hub's culler, run with the doc CI's token and a short limit: only that account's servers."""
    assert site.hub is not None and site.reference_site is not None
    token = site.hub.token_file.read_text(encoding="utf-8").strip()
    user = site.hub.doc_ci_user
    partition = site.interactive_partition
    with HubClient.with_token(hub_url(site), token) as client:
        options = {"place": partition.name, "walltime": "00:30:00", "cpus": 1}
        outcome = client.start_and_wait(user, "culler-test", options, timeout_s=240)
        try:
            assert outcome.ready, outcome.messages

            def jobs() -> list[str]:
                listed = subprocess.run(
                    ["squeue", "-h", "-u", user, "-o", "%i"], capture_output=True, text=True
                )
                return listed.stdout.split()

            assert jobs(), "the server runs in a Slurm job"
            api = f"http://127.0.0.1:{site.reference_site.hub_api_port}/hub/api"
            culler = subprocess.Popen(
                [str(hub_layout(site).bin / "python"), "-m", "jupyterhub_idle_culler",
                 f"--url={api}", "--timeout=20", "--cull-every=5"],
                env={"JUPYTERHUB_API_TOKEN": token, "PATH": os.environ["PATH"]},
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            try:
                culled = wait_until(lambda: "culler-test" not in client.servers(user), 120)
            finally:
                culler.terminate()
                log = culler.communicate(timeout=30)[0]
            assert culled, f"the culler did not stop the server: {log[-2000:]}"
            assert wait_until(lambda: not jobs(), 60), f"its Slurm job is still there: {jobs()}"
        finally:
            if "culler-test" in client.servers(user):
                client.stop(user, "culler-test")


def test_the_hub_names_the_real_spawner_and_its_versions(site: Profile) -> None:
    assert site.hub is not None
    token = site.hub.token_file.read_text(encoding="utf-8").strip()
    with HubClient.with_token(hub_url(site), token) as client:
        spawner = client.api("GET", "/info")["spawner"]
    assert spawner["class"] == "handbook_spawner.HandbookSpawner"
    for package in ("wrapspawner", "jupyterhub-moss", "batchspawner", "jupyterhub"):
        assert package in spawner["version"], spawner


def test_slurms_reason_reaches_the_user_when_it_refuses_the_servers_job(
    site: Profile, novice: tuple[HubClient, str]
) -> None:
    # The site drifted from its profile: the batch partition's time limit was lowered behind the
    # form's back, so the form lets the request through and Slurm itself refuses the job.
    client, user = novice
    batch = site.batch_partition.name
    subprocess.run(
        ["scontrol", "update", f"PartitionName={batch}", "MaxTime=00:05:00"], check=True, timeout=30
    )
    try:
        with pytest.raises(HubError) as error:
            client.start(user, SERVER, {"place": batch, "walltime": "00:30:00"})
        # The hub's answer, after the client's own "POST <url>: HTTP 500:".
        message = str(error.value).split("HTTP 500: ", 1)[1]
        assert message.startswith(f"Slurm refused the job for your server on {batch}: Requested time limit")
        assert user not in message  # the submission's command line, with the account, stays in the log
        assert wait_until(lambda: not client.servers(user).get(SERVER, {}).get("pending"), 30)
    finally:
        limit = site.batch_partition.limits.max_walltime
        subprocess.run(
            ["scontrol", "update", f"PartitionName={batch}", f"MaxTime={limit}"], check=True, timeout=30
        )
