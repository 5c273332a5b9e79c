"""The container kernel on the reference site: a real rootless podman, run as a site user.

The image comes from the site's read-only store, the kernel sees the user's files at their own
paths, and no container outlives its kernel, however the kernel's launcher ends.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SESSION_TAG, wait_until

from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.containers import mount_points, podman_settings
from hpc_handbook.reference_site.paths import site_layout
from hpc_handbook.reference_site.users import account_by_purpose

pytestmark = pytest.mark.site

#: Runs as the site user: starts the kernel, runs `code` in it, and then ends it as `ending` says.
DRIVER = textwrap.dedent(
    """
    import json, os, signal, sys, time
    from jupyter_client.manager import start_new_kernel

    kernel, code, ending = sys.argv[1:4]
    km, kc = start_new_kernel(kernel_name=kernel, startup_timeout=90)
    reply = kc.execute_interactive(code, timeout=60, output_hook=lambda m: (
        m["msg_type"] == "stream" and print(m["content"]["text"], end="", file=sys.stderr)))
    print(json.dumps({"launcher": km.provisioner.process.pid, "status": reply["content"]["status"]}))
    sys.stdout.flush()
    if ending == "kill":
        os.kill(km.provisioner.process.pid, signal.SIGKILL)
        time.sleep(0.5)
        kc.stop_channels()
        os._exit(0)
    kc.stop_channels()
    km.shutdown_kernel()
    """
)


@pytest.fixture(scope="module")
def container_kernel(site: Profile) -> str:
    kernel = site.kernel_roles.get("container")
    if kernel is None:
        pytest.skip("the profile has no container kernel")
    return kernel.name


@pytest.fixture
def user(site: Profile) -> str:
    return account_by_purpose(site, "novice").name


def _as_user(
    user: str, *command: str, cwd: str = "/tmp", timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", user, "--", "bash", "-lc", f"cd {cwd} && " + shlex.join(command)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@pytest.fixture
def driver() -> Iterator[str]:
    """The driver script, where the site user can read it (pytest's own folders are root's)."""
    folder = Path(tempfile.mkdtemp(prefix="handbook-container-test-"))
    folder.chmod(0o755)
    (folder / "driver.py").write_text(DRIVER)
    (folder / "driver.py").chmod(0o644)
    yield str(folder / "driver.py")
    shutil.rmtree(folder)


def _user_containers(user: str) -> list[str]:
    listed = _as_user(user, "podman", "ps", "--all", "--format", "{{.Names}}", timeout=60)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout.split()


def _server_python(site: Profile) -> str:
    """The Python of the default JupyterLab environment: what starts kernels in users' servers."""
    default = next(e for e in site.jupyter.environments if e.default)
    return str(site_layout(site).prefix / "hub" / "envs" / default.name / "bin" / "python")


def test_the_kernel_runs_the_sites_image_as_the_user_with_the_users_files(
    site: Profile, container_kernel: str, user: str, driver: str
) -> None:
    code = textwrap.dedent(
        """
        import json, os, sys
        from pathlib import Path
        Path("from-the-container.txt").write_text("hello")
        try:
            Path("/usr/bin/mine").write_text("x")
            image_write = "allowed"
        except OSError as error:
            image_write = error.strerror
        print(json.dumps({
            "container": os.environ.get("container"),
            "os": Path("/etc/os-release").read_text().split('"')[1],
            "python": sys.executable,
            "cwd": os.getcwd(),
            "image_write": image_write,
        }))
        """
    )
    done = _as_user(user, _server_python(site), driver, container_kernel, code, "shutdown", cwd="~")
    assert done.returncode == 0, done.stderr[-2000:]
    facts = json.loads(done.stderr.strip().splitlines()[-1])
    home = Path("/home") / user
    assert facts["container"] == "podman"
    assert facts["os"].startswith("Debian GNU/Linux 12")
    # The image's own Debian Python, not the server's.
    assert facts["python"] == "/usr/bin/python3"
    assert facts["cwd"] == str(home)
    assert facts["image_write"] == "Read-only file system"
    written = home / "from-the-container.txt"
    try:
        assert written.read_text() == "hello"
        assert written.owner() == user
    finally:
        written.unlink(missing_ok=True)
    assert wait_until(lambda: not _user_containers(user), 15), _user_containers(user)


def test_a_killed_launcher_leaves_no_container(
    site: Profile, container_kernel: str, user: str, driver: str
) -> None:
    # SIGKILL is what Jupyter sends last; podman's monitor would keep the container running.
    done = _as_user(user, _server_python(site), driver, container_kernel, "import time", "kill", cwd="~")
    assert done.returncode == 0, done.stderr[-2000:]
    assert wait_until(lambda: not _user_containers(user), 20), f"still there: {_user_containers(user)}"


def test_users_cannot_change_the_shared_image(site: Profile, container_kernel: str, user: str) -> None:
    image = next(c.reference for c in site.containers if c.name == site.kernel(container_kernel).image)
    env = " ".join(f"{k}={v}" for k, v in podman_settings(site_layout(site)).items())
    listed = _as_user(
        user, "env", *env.split(), "podman", "images", "--format", "{{.Repository}}:{{.Tag}} {{.ReadOnly}}"
    )
    assert f"{image} true" in listed.stdout, listed.stdout + listed.stderr
    removed = _as_user(user, "env", *env.split(), "podman", "rmi", image)
    assert removed.returncode != 0
    assert "read-only" in (removed.stdout + removed.stderr).lower()


def test_root_runs_it_too(site: Profile, container_kernel: str) -> None:
    # The probe and the doc CI's direct runs start kernels as root: root's podman gets root's own limits.
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name=container_kernel, startup_timeout=90)
    try:
        reply = kc.execute_interactive("import os; assert os.environ['container'] == 'podman'", timeout=60)
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel()


def test_a_cancelled_job_leaves_no_container(site: Profile, container_kernel: str, user: str) -> None:
    # In a Slurm job (a server on a partition), ending the job kills the launcher and its reaper
    # alike, and podman's monitor survives both: the site's epilog removes the job's containers.
    launcher = site_layout(site).container_launcher
    image = next(c.reference for c in site.containers if c.name == site.kernel(container_kernel).image)
    mounts = [f"--mount={top}" for top in mount_points(site)]
    script = shlex.join(
        [str(launcher), "--kernel-name", container_kernel, "--image", image, *mounts, "--", "sleep", "600"]
    )
    submitted = _as_user(
        user, "sbatch", "--parsable", f"--partition={site.interactive_partition.name}", "--time=5",
        f"--comment={SESSION_TAG}", "--output=/dev/null", f"--wrap={script}", cwd="~",
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip().split(";")[0]
    try:
        assert wait_until(lambda: bool(_user_containers(user)), 60), "the job's container never started"
    finally:
        subprocess.run(["scancel", job], check=False, timeout=30)
    assert wait_until(lambda: not _user_containers(user), 30), f"still there: {_user_containers(user)}"
