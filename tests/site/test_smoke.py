"""Smoke tests of the running reference site: jobs run, kernels answer, modules change the environment.

They also show that they would notice: a partition set DOWN and a kernelspec
taken away both make the site's checks, and the tests built on them, fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.manager import KernelManager

from hpc_handbook.kernelspecs import site_kernel_spec_manager
from hpc_handbook.profile import PROFILE_ENV_VAR, Profile, load_profile
from hpc_handbook.reference_site.checks import check_site
from hpc_handbook.reference_site.lmod import SiteModule, module_environment, plan_modules
from hpc_handbook.reference_site.paths import SITE_JUPYTER_DIR, ReferenceSiteError, site_layout
from hpc_handbook.reference_site.slurm_jobs import slurm_jobs
from hpc_handbook.slurm import KERNEL_JOB_PREFIX

pytestmark = pytest.mark.site

# The same profile as conftest's `site` fixture; loaded here too because parameters need it at collection.
PROFILE_PATH = Path(os.environ.get(PROFILE_ENV_VAR) or Path(__file__).resolve().parents[2] / "site.yml")
PROFILE = load_profile(PROFILE_PATH)

JUPYTER_PARTITIONS = [p.name for p in PROFILE.partitions if p.jupyter]
SLURM_KERNELS = [k.name for k in PROFILE.kernels if k.start == "slurm"]
#: Code that prints 2, per kernel language.
ONE_PLUS_ONE = {"python": "print(1 + 1)", "bash": "echo $((1 + 1))", "r": "cat(1 + 1)"}
# A kernel in a Slurm job may wait in the queue behind other people's jobs on the shared site.
KERNEL_READY_TIMEOUT_S = 120
JOB_GONE_TIMEOUT_S = 30


def wait_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.3)
    return True


def run_job(partition: str, tag: str, *, wait_s: int) -> subprocess.CompletedProcess[str]:
    """Run a one-task job on `partition`; srun gives up if it does not start within `wait_s`."""
    return subprocess.run(
        [
            "srun",
            f"--partition={partition}",
            "--time=00:02:00",
            f"--immediate={wait_s}",
            f"--comment={tag}",
            "--job-name=handbook-smoke",
            "--ntasks=1",
            "bash",
            "-c",
            'echo "$SLURM_JOB_ID $SLURM_JOB_PARTITION"',
        ],
        capture_output=True,
        text=True,
        timeout=wait_s + 60,
        check=False,
    )


@contextmanager
def running_kernel(
    name: str, spec_manager: KernelSpecManager | None = None
) -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    """A started, ready kernel from the site's kernelspecs; shut down gracefully afterwards."""
    manager = KernelManager(kernel_name=name, kernel_spec_manager=spec_manager or site_kernel_spec_manager())
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=KERNEL_READY_TIMEOUT_S)
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=not manager.is_alive())


def execute(client: BlockingKernelClient, code: str, timeout_s: float = 60) -> str:
    """Run `code`; return what it printed and its result; fail on an error."""
    message_id = client.execute(code)
    output = []
    while True:
        message = client.get_iopub_msg(timeout=timeout_s)
        if message["parent_header"].get("msg_id") != message_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            output.append(content["text"])
        elif kind == "execute_result":
            output.append(content["data"]["text/plain"])
        elif kind == "error":
            pytest.fail(f"{code!r} failed: {content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(output)


def failed_checks(profile: Profile, **options: Path) -> list[tuple[str, str]]:
    return [(c.component, c.name) for c in check_site(profile, **options) if not c.ok]


# --- the site as a whole --------------------------------------------------


def test_every_component_is_up(site: Profile) -> None:
    assert failed_checks(site) == []


def test_status_command_exits_zero(site: Profile) -> None:
    from hpc_handbook.cli import main

    assert main(["site", "status", "--site", str(PROFILE_PATH)]) == 0


# --- Slurm ----------------------------------------------------------------


def test_slurm_has_every_profile_partition(site: Profile) -> None:
    result = subprocess.run(
        ["sinfo", "--noheader", "--format=%P %l"], capture_output=True, text=True, check=True
    )
    listed = {line.split()[0].rstrip("*") for line in result.stdout.splitlines()}

    # Partitions Jupyter cannot reach exist too: batch scripts use them.
    assert listed == {p.name for p in site.partitions}


def test_sinfo_lists_every_node_under_its_own_partition(site: Profile) -> None:
    result = subprocess.run(
        ["sinfo", "--Node", "--noheader", "--format=%N %P %c %f"], capture_output=True, text=True, check=True
    )
    listed = {}
    for line in result.stdout.splitlines():
        node, partition, cpus, features = line.split()
        listed.setdefault(node, []).append((partition.rstrip("*"), int(cpus), features))

    expected = {
        name: [(p.name, p.node_setup.cpus, ",".join(p.node_setup.features) or "(null)")]
        for p in site.partitions
        for name in p.node_setup.node_names
    }
    assert listed == expected


@pytest.mark.slurm
def test_checks_catch_a_drained_node(site: Profile) -> None:
    partition = next(p for p in site.partitions if not p.jupyter)
    node = partition.node_setup.node_names[0]
    drain = ["scontrol", "update", f"NodeName={node}", "State=DRAIN", "Reason=handbook-smoke"]
    subprocess.run(drain, check=True)
    try:
        assert failed_checks(site) == [("node", node), ("partition", partition.name)]
    finally:
        subprocess.run(["scontrol", "update", f"NodeName={node}", "State=RESUME"], check=True)
    assert wait_until(lambda: failed_checks(site) == [], 15)


@pytest.mark.slurm
@pytest.mark.parametrize("partition", JUPYTER_PARTITIONS)
def test_job_completes_on_each_jupyter_partition(site: Profile, job_tag: str, partition: str) -> None:
    result = run_job(partition, job_tag, wait_s=120)

    assert result.returncode == 0, result.stderr
    job_id, ran_on = result.stdout.split()
    assert ran_on == partition

    def recorded() -> bool:
        # slurmdbd's record, as `sacct` shows it to users on a real site.
        sacct = ["sacct", "--noheader", "--parsable2", "-X", "-j", job_id, "--format=JobID,Partition,State"]
        answer = subprocess.run(sacct, capture_output=True, text=True, check=False).stdout
        return f"{job_id}|{partition}|COMPLETED" in answer.splitlines()

    assert wait_until(recorded, 15), f"job {job_id} is not in sacct"


@pytest.mark.slurm
def test_checks_catch_a_partition_that_is_down(site: Profile, job_tag: str) -> None:
    partition = JUPYTER_PARTITIONS[0]
    subprocess.run(["scontrol", "update", f"PartitionName={partition}", "State=DOWN"], check=True)
    try:
        assert failed_checks(site) == [("partition", partition)]
        assert run_job(partition, job_tag, wait_s=2).returncode != 0
    finally:
        subprocess.run(["scontrol", "update", f"PartitionName={partition}", "State=UP"], check=True)
    assert failed_checks(site) == []


# --- kernels --------------------------------------------------------------


def kernel_params() -> list[object]:
    return [
        pytest.param(k.name, marks=[pytest.mark.slurm] if k.start == "slurm" else [], id=k.name)
        for k in PROFILE.kernels
    ]


@pytest.mark.parametrize("kernel_name", kernel_params())
def test_every_kernel_starts_and_answers(site: Profile, kernel_name: str) -> None:
    kernel = site.kernel(kernel_name)
    with running_kernel(kernel_name) as (_manager, client):
        assert execute(client, ONE_PLUS_ONE[kernel.language.lower()]).strip() == "2"
        if kernel.language.lower() != "python":
            return
        modules = [p for p in kernel.packages if p != "ipykernel"]
        execute(client, "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules))
        environment = execute(
            client,
            "import os\nprint(os.environ.get('LOADEDMODULES', ''), os.environ.get('SLURM_JOB_PARTITION', ''),"
            " sep='|')",
        )
    loaded, partition = environment.strip().split("|")
    if kernel.start == "modules":
        assert loaded.split(":") == kernel.modules
    # Only the Slurm kernel runs inside a job.
    assert partition == (kernel.partition if kernel.start == "slurm" else "")


@pytest.mark.slurm
@pytest.mark.parametrize("kernel_name", SLURM_KERNELS)
@pytest.mark.parametrize("ending", ["shutdown", "sigterm", "sigkill-process-group"])
def test_slurm_kernel_job_lives_and_ends_with_the_kernel(
    site: Profile, job_tag: str, kernel_name: str, ending: str
) -> None:
    kernel = site.kernel(kernel_name)
    with running_kernel(kernel_name) as (manager, client):
        assert execute(client, ONE_PLUS_ONE["python"]).strip() == "2"
        [job] = slurm_jobs(job_tag)
        assert job.is_kernel and job.name.startswith(f"{KERNEL_JOB_PREFIX}{kernel_name}-")
        assert (job.state, job.partition) == ("RUNNING", kernel.partition)
        launcher = manager.provisioner.process.pid  # type: ignore[union-attr]
        if ending == "sigterm":
            # What Jupyter sends first when it stops a kernel that does not answer.
            os.kill(launcher, signal.SIGTERM)
        elif ending == "sigkill-process-group":
            # Jupyter's last resort; the launcher cannot catch it, its reaper must cancel the job.
            os.killpg(launcher, signal.SIGKILL)
        if ending != "shutdown":
            assert wait_until(lambda: not slurm_jobs(job_tag), JOB_GONE_TIMEOUT_S)
    assert wait_until(lambda: not slurm_jobs(job_tag), JOB_GONE_TIMEOUT_S)


@pytest.mark.slurm
@pytest.mark.parametrize("kernel_name", SLURM_KERNELS)
def test_interrupting_a_slurm_kernel_stops_the_cell_not_the_job(
    site: Profile, job_tag: str, kernel_name: str
) -> None:
    with running_kernel(kernel_name) as (manager, client):
        message_id = client.execute("import time; time.sleep(60)")
        # The kernel announces a cell with execute_input when it starts running it.
        while not (
            (message := client.get_iopub_msg(timeout=60))["msg_type"] == "execute_input"
            and message["parent_header"].get("msg_id") == message_id
        ):
            pass
        manager.interrupt_kernel()
        while True:
            message = client.get_iopub_msg(timeout=60)
            if message["parent_header"].get("msg_id") == message_id and message["msg_type"] == "error":
                break
        assert message["content"]["ename"] == "KeyboardInterrupt"
        assert [job.state for job in slurm_jobs(job_tag)] == ["RUNNING"]
        assert execute(client, ONE_PLUS_ONE["python"]).strip() == "2"


def test_checks_catch_a_missing_kernelspec(site: Profile, tmp_path: Path) -> None:
    # Work on a copy: people share this site, and its real kernelspecs must not vanish under them.
    copy = tmp_path / "jupyter"
    shutil.copytree(SITE_JUPYTER_DIR / "kernels", copy / "kernels")
    assert failed_checks(site, jupyter_dir=copy) == []
    removed = site.kernels[-1].name
    shutil.rmtree(copy / "kernels" / removed)

    assert failed_checks(site, jupyter_dir=copy) == [("kernel", removed)]
    with pytest.raises(NoSuchKernel):
        with running_kernel(removed, KernelSpecManager(kernel_dirs=[str(copy / "kernels")])):
            pass


# --- modules --------------------------------------------------------------


def load_with_prereqs(module: SiteModule, modules: list[SiteModule]) -> list[str]:
    if module.prereq is None:
        return [module.name]
    prereq = next(m for m in modules if m.family == module.prereq and m.default)
    return [prereq.name, module.name]


def test_module_load_changes_the_environment(site: Profile) -> None:
    modules = plan_modules(site)
    before = module_environment([], site)
    for module in modules:
        after = module_environment(load_with_prereqs(module, modules), site)
        root = site_layout(site).software_root(module.family, module.version)

        assert after["PATH"] != before["PATH"]
        assert after["PATH"].split(":")[0] == str(root / "bin")
        assert (root / "bin").is_dir()
        assert after[f"{module.env_prefix}_VERSION"] == module.version
        assert module.name in after["LOADEDMODULES"].split(":")
        if module.kind == "compiler":
            assert (
                subprocess.run([after["CC"], "--version"], capture_output=True, check=False).returncode == 0
            )
        if module.kind == "python":
            python = shutil.which("python", path=after["PATH"])
            assert python is not None and python.startswith(str(root))


def test_load_order_and_defaults_matter(site: Profile) -> None:
    modules = plan_modules(site)
    for module in modules:
        if module.prereq:
            with pytest.raises(ReferenceSiteError, match="Cannot load module"):
                module_environment([module.name], site)
        if module.default:
            loaded = module_environment([*load_with_prereqs(module, modules)[:-1], module.family], site)
            assert module.name in loaded["LOADEDMODULES"].split(":")


def test_login_shells_find_the_module_tree(site: Profile) -> None:
    result = subprocess.run(
        ["bash", "-l", "-c", "module --terse avail"],
        env={"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/bin:/bin", "USER": "root"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert f"{site.modules.paths[0]}:" in result.stderr.splitlines()
    for module in plan_modules(site):
        assert module.name in result.stderr.splitlines()
