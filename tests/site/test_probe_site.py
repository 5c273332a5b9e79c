"""The probe, the drift check, the status page and the job mix against the running reference site.

Every kernel the probe starts carries a Slurm comment of its own (`hpc-handbook-probe-*`)
in its job and its environment, and every job of the mix carries this module's name
prefix; after each test none of them may remain.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hpc_handbook.cli import main
from hpc_handbook.data.snapshot import Jupyter, compared_content
from hpc_handbook.drift.check import check_drift
from hpc_handbook.hub.client import HubClient
from hpc_handbook.probe.snapshot import probe_site
from hpc_handbook.processes import processes_tagged
from hpc_handbook.profile import PROFILE_ENV_VAR, Profile, load_profile
from hpc_handbook.reference_site.server_environment import environment_packages
from hpc_handbook.slurm import KERNEL_JOB_COMMENT_ENV

pytestmark = pytest.mark.site

REPO = Path(__file__).resolve().parents[2]
PROFILE = load_profile(os.environ.get(PROFILE_ENV_VAR) or REPO / "site.yml")
PROBE_COMMENT_PREFIX = "hpc-handbook-probe-"
MIX_PREFIX = f"hbk-test-{os.getpid()}"
CLEANUP_WAIT_S = 30.0


def _queue() -> list[tuple[str, str, str]]:
    result = subprocess.run(["squeue", "-h", "-o", "%i|%j|%k"], capture_output=True, text=True, check=True)
    return [tuple(line.split("|", 2)) for line in result.stdout.splitlines() if line.count("|") == 2]  # type: ignore[misc]


def our_jobs() -> list[tuple[str, str, str]]:
    """Jobs of the probe's kernels or of this module's job mix."""
    return [
        job for job in _queue() if job[2].startswith(PROBE_COMMENT_PREFIX) or job[1].startswith(MIX_PREFIX)
    ]


def probe_kernel_processes() -> list[int]:
    """Live processes started for a probe: their environment carries a probe comment."""
    return processes_tagged(KERNEL_JOB_COMMENT_ENV, lambda value: value.startswith(PROBE_COMMENT_PREFIX))


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    yield
    deadline = time.monotonic() + CLEANUP_WAIT_S
    while (our_jobs() or probe_kernel_processes()) and time.monotonic() < deadline:
        time.sleep(0.5)
    jobs, pids = our_jobs(), probe_kernel_processes()
    if jobs:
        subprocess.run(["scancel", "--quiet", *(job[0] for job in jobs)], check=False)
    assert not jobs, f"jobs left behind: {jobs}"
    assert not pids, f"kernel processes left behind: {pids}"


@pytest.fixture(scope="module")
def snapshot(site: Profile) -> dict[str, Any]:
    return probe_site(site)


def test_every_kernel_answers_with_its_versions(snapshot: dict[str, Any]) -> None:
    for kernel in PROFILE.kernels:
        entry = snapshot["kernels"][kernel.name]
        assert entry["error"] is None, (kernel.name, entry["error"])
        assert entry["language_version"], kernel.name
        assert entry["start"] == kernel.start
        for package in kernel.packages:
            assert entry["packages"][package], (kernel.name, package)
    assert snapshot["kernels"]["python3"]["language_version"].startswith("3.")


def test_the_site_matches_its_profile(snapshot: dict[str, Any]) -> None:
    assert check_drift(PROFILE, snapshot) == []


def test_two_probes_of_an_unchanged_site_are_identical(snapshot: dict[str, Any]) -> None:
    again = probe_site(PROFILE)
    assert compared_content(again) == compared_content(snapshot)
    # Host names stay out of the snapshot: it is committed.
    assert not re.search(rf"\b{re.escape(os.uname().nodename)}\b", json.dumps(snapshot))


def kernelspec_list() -> dict[str, Any]:
    """`jupyter kernelspec list --json`, with the site's kernelspecs first and no user kernels."""
    from hpc_handbook.kernelspecs import site_jupyter_path

    env = {
        **os.environ,
        "JUPYTER_PATH": site_jupyter_path(),
        "JUPYTER_DATA_DIR": "/nonexistent-handbook-test",
    }
    result = subprocess.run(
        [sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(result.stdout)["kernelspecs"]


STATUS_CONF = """
import sys
from hpc_handbook.book.config import setup_config
from hpc_handbook.book.site_values import setup_site_values
from hpc_handbook.book.status_pages import setup_status_pages

extensions = ["myst_parser"]
myst_enable_extensions = ["colon_fence"]
handbook_site_profile = {profile!r}
handbook_snapshot = {snapshot!r}

def setup(app):
    setup_config(app)
    setup_site_values(app)
    setup_status_pages(app)
"""


def test_the_status_page_matches_jupyter_kernelspec_list(tmp_path: Path) -> None:
    lxml_html = pytest.importorskip("lxml.html")
    output = tmp_path / "snapshot.json"
    assert main(["probe", "--site", str(REPO / "site.yml"), "--output", str(output)]) == 0
    source = tmp_path / "source"
    source.mkdir()
    (source / "conf.py").write_text(
        STATUS_CONF.format(profile=str(REPO / "site.yml"), snapshot=str(output)), encoding="utf-8"
    )
    (source / "index.md").write_text((REPO / "book/reference/status.md").read_text(), encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-q", str(source), str(tmp_path / "html")],
        check=True,
        capture_output=True,
    )
    page = lxml_html.parse(str(tmp_path / "html" / "index.html")).getroot()
    rows = page.xpath("//table[contains(@class, 'handbook-status-kernels')]/tbody/tr")
    shown = {row.xpath("./td[1]//code")[0].text_content(): row for row in rows}
    listed = kernelspec_list()
    assert sorted(shown) == sorted(listed)
    for name, spec in listed.items():
        row_text = shown[name].text_content()
        assert spec["spec"]["display_name"] in row_text
    assert "Generated from" in page.text_content()


def test_the_job_mix_runs_and_leaves_no_job_behind(site: Profile) -> None:
    started = dt.datetime.now() - dt.timedelta(seconds=5)
    assert main(["waiting-times", "generate", "--jobs", "4", "--prefix", MIX_PREFIX, "--timeout", "180"]) == 0
    assert not [job for job in _queue() if job[1].startswith(MIX_PREFIX)]
    # Slurm's accounting records each finished job, where `collect` reads it.
    sacct = ["sacct", "-a", "-X", "-n", "-P", "--format=JobName", f"--starttime={started:%Y-%m-%dT%H:%M:%S}"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        names = subprocess.run(sacct, capture_output=True, text=True, check=True, timeout=60).stdout.split()
        if sum(name.startswith(MIX_PREFIX) for name in names) == 4:
            break
        time.sleep(0.5)
    assert sum(name.startswith(MIX_PREFIX) for name in names) == 4


def test_a_job_mix_that_runs_out_of_time_cancels_its_jobs(site: Profile) -> None:
    # Every job sleeps at least 2 s, so a 1 s budget must end in cancelling.
    assert main(["waiting-times", "generate", "--jobs", "3", "--prefix", MIX_PREFIX, "--timeout", "1"]) == 1
    assert not [job for job in _queue() if job[1].startswith(MIX_PREFIX)]


def test_a_real_partition_limit_change_is_drift_and_becomes_a_fragment(
    site: Profile, snapshot: dict[str, Any], tmp_path: Path
) -> None:
    from hpc_handbook.changelog.fragments import load_fragments
    from hpc_handbook.changes.detect import snapshot_changes
    from hpc_handbook.changes.fragments import write_change_fragments

    partition = site.interactive_partition
    subprocess.run(["scontrol", "update", f"PartitionName={partition.name}", "MaxTime=00:30:00"], check=True)
    try:
        changed = probe_site(site)
    finally:
        restore = f"MaxTime={partition.limits.max_walltime}"
        subprocess.run(["scontrol", "update", f"PartitionName={partition.name}", restore], check=True)
    drift = check_drift(site, changed, baseline=snapshot, root=REPO)
    assert any(d.name == partition.name and "MaxTime" in d.check for d in drift), drift
    changes = snapshot_changes(snapshot, changed, profile=site)
    written = write_change_fragments(tmp_path, changes, date=dt.date.fromisoformat(changed["taken"]))
    fragments = load_fragments(tmp_path)
    assert len(written) == len(fragments) == 1
    assert fragments[0].meta.key == f"partition/{partition.name}"
    assert "MaxTime" in fragments[0].text and "00:30:00" in fragments[0].text


def test_a_kernel_users_cannot_start_is_reported_though_the_probe_could(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The probe starts kernels as the doc CI does, not with its own PATH."""
    from hpc_handbook.probe.kernels import probe_kernels
    from hpc_handbook.reference_site.paths import KERNELSPEC_DIR, site_layout

    # The kernel finds `python3` on PATH: the prober's PATH has one with ipykernel, a user's has not.
    with_ipykernel = site_layout(PROFILE).kernel_dir(PROFILE.kernels[0].name) / "bin"
    monkeypatch.setenv("PATH", f"{with_ipykernel}{os.pathsep}{os.environ['PATH']}")
    assert subprocess.run(["python3", "-c", "import ipykernel"]).returncode == 0
    assert subprocess.run(["/usr/bin/python3", "-c", "import ipykernel"], capture_output=True).returncode
    name = f"handbook-path-dependent-{os.getpid()}"
    spec = {
        # Through `env`: jupyter_client replaces a bare `python3` with its own interpreter.
        "argv": ["env", "python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python from PATH",
        "language": "python",
    }
    (KERNELSPEC_DIR / name).mkdir()
    try:
        (KERNELSPEC_DIR / name / "kernel.json").write_text(json.dumps(spec))
        kernels = probe_kernels(PROFILE, timeout=20, only=[name])
    finally:
        (KERNELSPEC_DIR / name / "kernel.json").unlink(missing_ok=True)
        (KERNELSPEC_DIR / name).rmdir()
    assert kernels[name]["error"], kernels[name]


def test_the_users_jupyter_environment_is_read_from_their_own_server(snapshot: dict[str, Any]) -> None:
    jupyter = Jupyter.model_validate(snapshot["jupyter"])
    assert jupyter.source == "users-server" and jupyter.error is None
    # What the default environment's venv pins, not what the probe's own environment happens to have.
    default = PROFILE.jupyter.default_environment
    assert f"jupyterlab=={jupyter.packages['jupyterlab']}" in environment_packages(PROFILE, default)
    for extension in PROFILE.jupyter.default_environment.extensions:
        assert jupyter.has_extension(extension), extension
    assert set(PROFILE.jupyter.server_proxy_allowed) <= set(jupyter.proxy_apps)
    assert "read:hub" in snapshot["hub"]["doc_ci_scopes"]
    assert not any("rcc-" in scope for scope in snapshot["hub"]["doc_ci_scopes"]), "no account names"


def test_an_extension_the_servers_lack_is_drift(snapshot: dict[str, Any]) -> None:
    default = PROFILE.jupyter.default_environment
    promising = default.model_copy(update={"extensions": [*default.extensions, "jupyterlab-git"]})
    environments = [promising if e is default else e for e in PROFILE.jupyter.environments]
    promised = PROFILE.model_copy(
        update={"jupyter": PROFILE.jupyter.model_copy(update={"environments": environments})}
    )
    found = {(d.kind, d.name, d.check) for d in check_drift(promised, snapshot)}
    assert ("jupyter", "jupyterlab-git", "extension") in found
    assert ("environment", default.name, "extension jupyterlab-git") in found


def test_a_proxy_application_opens_from_a_users_server(site: Profile) -> None:
    assert site.hub is not None
    client = HubClient.with_token(str(site.hub.url), site.hub.token_file.read_text().strip())
    user, server = site.hub.doc_ci_user, "proxy-check"
    try:
        assert client.start_and_wait(user, server, {"place": "login"}, timeout_s=120).ready
        for app in site.jupyter.server_proxy_allowed:
            page = client.server_page(user, server, f"{app}/")
            assert "<html" in page.lower() or "<!doctype html" in page.lower(), app
    finally:
        client.stop(user, server)
        client.close()
