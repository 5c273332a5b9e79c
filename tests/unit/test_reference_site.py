"""The reference site's pure generators, against the default profile and a second, tiny one.

Nothing here touches the machine: the generators turn a profile into text and
data, so any profile can be checked without Slurm, Lmod or root.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from hpc_handbook.profile import Profile, load_profile, walltime_hours
from hpc_handbook.reference_site.command import add_commands
from hpc_handbook.reference_site.kernels import (
    kernel_venv_packages,
    kernel_walltime,
    kernelspec,
    launcher_script,
    modules_kernel_launcher,
    site_jupyter_env,
    site_jupyter_path,
)
from hpc_handbook.reference_site.lifecycle import apt_packages
from hpc_handbook.reference_site.lmod import (
    is_symlink_entry,
    module_tree,
    modulefile,
    next_version,
    plan_modules,
    profile_d_script,
)
from hpc_handbook.reference_site.paths import (
    LMOD_INIT_BASH,
    R_EXECUTABLE,
    ReferenceSiteError,
    site_layout,
)
from hpc_handbook.reference_site.slurm_conf import (
    SLURMDBD_PORT,
    gpu_device_files,
    gres_conf,
    parse_slurm_partitions,
    site_nodes,
    slurm_conf,
)

REPO = Path(__file__).resolve().parents[2]
PROFILES = {"default": REPO / "site.yml", "tiny": REPO / "tests" / "profiles" / "tiny.yml"}


@pytest.fixture(params=sorted(PROFILES))
def profile(request: pytest.FixtureRequest) -> Profile:
    return load_profile(PROFILES[request.param])


@pytest.fixture
def default_profile() -> Profile:
    return load_profile(PROFILES["default"])


@pytest.fixture
def tiny() -> Profile:
    return load_profile(PROFILES["tiny"])


def slurm_minutes(walltime: str) -> int:
    return round(walltime_hours(walltime) * 60)


# --- slurm.conf -----------------------------------------------------------


def test_slurm_conf_has_exactly_the_profiles_partitions_with_their_limits(profile: Profile) -> None:
    partitions = parse_slurm_partitions(slurm_conf(profile, controller="node1"))

    assert list(partitions) == [p.name for p in profile.partitions]
    for partition in profile.partitions:
        settings = partitions[partition.name]
        assert settings["MaxTime"] == partition.limits.max_walltime
        assert settings["MaxNodes"] == str(partition.limits.max_nodes)
        assert settings["MaxMemPerNode"] == str(partition.limits.memory_per_node_gb * 1024)
        assert settings["Default"] == ("YES" if partition.default else "NO")
        assert settings["State"] == "UP"
        assert settings["Nodes"] == partition.node_setup.names


def test_slurm_conf_keeps_partitions_jupyter_cannot_reach(tiny: Profile) -> None:
    text = slurm_conf(tiny, controller="node1")

    assert "bigmem" in parse_slurm_partitions(text)
    assert "# Not reachable from Jupyter (jupyter: false in the profile)." in text


def test_exactly_one_default_partition(profile: Profile) -> None:
    partitions = parse_slurm_partitions(slurm_conf(profile, controller="node1"))

    defaults = [name for name, settings in partitions.items() if settings["Default"] == "YES"]
    assert defaults == [p.name for p in profile.partitions if p.default]


def test_slurm_conf_declares_shared_nodes_without_cgroups(profile: Profile) -> None:
    text = slurm_conf(profile, controller="node1")
    settings = dict(line.split("=", 1) for line in text.splitlines() if re.match(r"^[A-Za-z]+=", line))

    assert settings["SlurmdParameters"] == "config_overrides"
    assert settings["ProctrackType"] == "proctrack/linuxproc"
    assert settings["TaskPlugin"] == "task/none"
    assert settings["SelectType"] == "select/cons_tres"
    assert settings["AccountingStorageType"] == "accounting_storage/slurmdbd"
    assert settings["AccountingStorageEnforce"] == "associations,limits"
    assert settings["AccountingStoragePort"] == str(SLURMDBD_PORT)
    assert int(settings["MinJobAge"]) <= 10
    assert settings["SlurmctldHost"] == "node1(127.0.0.1)"
    assert settings["ClusterName"] == profile.site.short_name.lower()
    assert not [line for line in text.splitlines() if "cgroup" in line and not line.startswith("#")]


def test_slurmdbd_listens_on_a_port_no_slurmd_of_the_site_takes(profile: Profile) -> None:
    ports = [int(node["Port"]) for node in node_lines(slurm_conf(profile, controller="node1")).values()]

    assert ports
    assert SLURMDBD_PORT not in ports


def node_lines(text: str) -> dict[str, dict[str, str]]:
    """The NodeName lines of a slurm.conf, as {name: {key: value}}."""
    lines = [line for line in text.splitlines() if line.startswith("NodeName=")]
    nodes = [dict(item.split("=", 1) for item in line.split()) for line in lines]
    return {node.pop("NodeName"): node for node in nodes}


def test_every_partition_owns_its_nodes_as_the_profile_declares_them(profile: Profile) -> None:
    nodes = node_lines(slurm_conf(profile, controller="node1"))

    declared = [name for p in profile.partitions for name in p.node_setup.node_names]
    assert list(nodes) == declared, "one NodeName line per node, none shared between partitions"
    for partition in profile.partitions:
        setup = partition.node_setup
        for name in setup.node_names:
            node = nodes[name]
            assert node["NodeAddr"] == "127.0.0.1"
            assert int(node["CPUs"]) == setup.cpus
            # A node must admit any job its partition allows.
            assert int(node["RealMemory"]) >= partition.limits.memory_per_node_gb * 1024
            assert node.get("Feature", "") == ",".join(setup.features)
            gpus = partition.limits.gpus_per_node
            assert node.get("Gres") == (f"gpu:{gpus}" if gpus else None)
    ports = [node["Port"] for node in nodes.values()]
    assert len(set(ports)) == len(ports), "each slurmd listens on a port of its own"


def test_gres_conf_gives_each_gpu_node_its_stand_in_devices(default_profile: Profile) -> None:
    text = gres_conf(default_profile)
    gpu_nodes = [n for n in site_nodes(default_profile) if n.gpus]

    assert gpu_nodes, "the default profile has a GPU partition"
    lines = [line for line in text.splitlines() if line.startswith("NodeName=")]
    assert len(lines) == len(gpu_nodes)
    for node, line in zip(gpu_nodes, lines, strict=True):
        assert line.startswith(f"NodeName={node.name} Name=gpu File=")
        assert len(gpu_device_files(node)) == node.gpus
    assert "GresTypes=gpu" in slurm_conf(default_profile, controller="node1")


def test_a_profile_without_gpus_declares_no_generic_resources(tiny: Profile) -> None:
    assert "GresTypes" not in slurm_conf(tiny, controller="node1")
    assert not [line for line in gres_conf(tiny).splitlines() if line.startswith("NodeName=")]


def test_slurm_conf_differs_between_centres(default_profile: Profile, tiny: Profile) -> None:
    tiny_text = slurm_conf(tiny, controller="node1")

    assert "ClusterName=tnc" in tiny_text
    for name in ("interactive", "batch", "largemem", "rcc"):
        assert name not in tiny_text.lower()
    assert parse_slurm_partitions(tiny_text)["compute"]["MaxTime"] == "2-00:00:00"


# --- modules --------------------------------------------------------------


def test_module_plan_covers_relied_on_and_kernel_modules(profile: Profile) -> None:
    names = {m.name for m in plan_modules(profile)}

    assert set(profile.modules.relied_on) <= names
    for kernel in profile.kernels:
        assert set(kernel.modules) <= names


def test_default_profile_modules(default_profile: Profile) -> None:
    modules = {m.name: m for m in plan_modules(default_profile)}

    assert set(modules) == {"gcc/12.2", "gcc/13.2", "python-stack/2024.1", "hdf5/1.14"}
    assert modules["gcc/12.2"].default and modules["gcc/12.2"].kind == "compiler"
    assert modules["gcc/13.2"].stand_in and not modules["gcc/13.2"].default
    assert modules["python-stack/2024.1"].kind == "python"
    assert modules["python-stack/2024.1"].prereq == "gcc"
    assert {"ipykernel", "numpy"} <= set(modules["python-stack/2024.1"].packages)
    assert modules["hdf5/1.14"].kind == "library"


def test_tiny_profile_modules(tiny: Profile) -> None:
    modules = {m.name: m for m in plan_modules(tiny)}

    assert set(modules) == {"gcc/11.3", "gcc/12.3", "python/3.11", "netcdf/4.9", "cmake/3.27"}
    assert modules["python/3.11"].prereq == "gcc"
    assert modules["cmake/3.27"].kind == "generic"


def test_compiler_modulefile_sets_compiler_variables(default_profile: Profile) -> None:
    gcc = next(m for m in plan_modules(default_profile) if m.name == "gcc/12.2")
    text = modulefile(gcc, default_profile)

    assert 'family("compiler")' in text
    assert 'local root = "/opt/rcc/software/gcc/12.2"' in text
    assert 'setenv("GCC_VERSION", "12.2")' in text
    assert 'setenv("CC", pathJoin(root, "bin", "gcc"))' in text
    assert 'setenv("CXX", pathJoin(root, "bin", "g++"))' in text
    assert 'prepend_path("PATH", pathJoin(root, "bin"))' in text


def test_python_module_requires_the_compiler_first(default_profile: Profile) -> None:
    stack = next(m for m in plan_modules(default_profile) if m.kind == "python")
    text = modulefile(stack, default_profile)

    assert 'prereq("gcc")' in text
    assert "depends_on" not in text
    assert 'setenv("PYTHON_STACK_VERSION", "2024.1")' in text
    assert 'prepend_path("PATH", pathJoin(root, "bin"))' in text


def test_library_and_generic_modulefiles(default_profile: Profile, tiny: Profile) -> None:
    hdf5 = next(m for m in plan_modules(default_profile) if m.family == "hdf5")
    cmake = next(m for m in plan_modules(tiny) if m.family == "cmake")

    hdf5_text = modulefile(hdf5, default_profile)
    cmake_text = modulefile(cmake, tiny)

    assert 'setenv("HDF5_DIR", root)' in hdf5_text
    assert 'setenv("HDF5_ROOT", root)' in hdf5_text
    assert 'setenv("CMAKE_ROOT", root)' in cmake_text
    assert 'setenv("CMAKE_VERSION", "3.27")' in cmake_text
    assert 'local root = "/opt/tnc/software/cmake/3.27"' in cmake_text


def test_module_tree_marks_each_familys_default(profile: Profile) -> None:
    tree = module_tree(profile)
    defaults = {path: target for path, target in tree.items() if is_symlink_entry(path)}

    for module in plan_modules(profile):
        assert module.file in tree
        if module.default:
            assert defaults[f"{module.family}/default"] == Path(module.file).name
    families = {m.family for m in plan_modules(profile) if m.version}
    assert {path.split("/")[0] for path in defaults} == families


def test_modulefiles_are_balanced_lua(profile: Profile) -> None:
    # A cheap syntax check: every call closes, and strings use double quotes only.
    for path, text in module_tree(profile).items():
        if is_symlink_entry(path):
            continue
        assert text.count("(") == text.count(")"), path
        assert "'" not in text.replace("'s", ""), path


def test_profile_d_script_puts_the_tree_on_modulepath(profile: Profile) -> None:
    script = profile_d_script(profile)

    for path in profile.modules.paths:
        assert path in script
    assert "export MODULEPATH" in script


# --- kernels --------------------------------------------------------------


def test_every_kernel_gets_a_kernelspec_with_its_start_in_metadata(profile: Profile) -> None:
    for kernel in profile.kernels:
        spec = kernelspec(kernel, profile)

        assert spec["display_name"] == kernel.display_name
        assert spec["language"] == kernel.language
        assert "{connection_file}" in spec["argv"]
        assert spec["metadata"]["handbook"]["start"] == kernel.start
        assert spec["argv"][0].startswith("/")


def test_local_kernels_run_from_their_own_venv_or_irkernel(profile: Profile) -> None:
    prefix = f"/opt/{profile.site.short_name.lower()}/kernels"
    for kernel in profile.kernels:
        if kernel.start != "local":
            continue
        argv = kernelspec(kernel, profile)["argv"]
        if kernel.language == "R":
            assert argv[:2] == [R_EXECUTABLE, "--slave"]
            assert "IRkernel::main()" in argv
            assert kernel_venv_packages(kernel) is None
        else:
            assert argv[0] == f"{prefix}/{kernel.name}/bin/python"
            module = "bash_kernel" if kernel.language == "bash" else "ipykernel_launcher"
            assert argv[1:3] == ["-m", module]
            assert set(kernel.packages) <= set(kernel_venv_packages(kernel) or [])


def test_r_kernel_keeps_its_profile_name(default_profile: Profile) -> None:
    r_kernels = [k for k in default_profile.kernels if k.language == "R"]

    assert [k.name for k in r_kernels] == ["ir"]
    assert "r-cran-irkernel" in apt_packages(default_profile)


def test_apt_packages(default_profile: Profile) -> None:
    packages = apt_packages(default_profile)

    assert packages[:3] == ["slurm-wlm", "munge", "lmod"]
    assert len(packages) == len(set(packages))


def test_modules_kernel_launcher_loads_its_modules_in_order(profile: Profile) -> None:
    for kernel in profile.kernels:
        if kernel.start != "modules":
            continue
        spec = kernelspec(kernel, profile)
        script = modules_kernel_launcher(kernel, profile)

        assert spec["argv"] == [
            f"/opt/{profile.site.short_name.lower()}/kernels/{kernel.name}/launch",
            "{connection_file}",
        ]
        assert spec["metadata"]["handbook"]["modules"] == kernel.modules
        assert f"module load {' '.join(kernel.modules)}\n" in script
        assert f"source {LMOD_INIT_BASH}" in script
        assert f"export MODULEPATH={':'.join(profile.modules.paths)}" in script
        assert script.rstrip().endswith('exec python -m ipykernel_launcher -f "$1"')
        assert "@" not in script


def test_slurm_kernel_runs_in_a_job_on_its_partition(profile: Profile) -> None:
    for kernel in profile.kernels:
        if kernel.start != "slurm":
            continue
        spec = kernelspec(kernel, profile)
        argv = spec["argv"]
        walltime = kernel.walltime or profile.partition(kernel.partition or "").limits.max_walltime

        assert argv[0] == f"/opt/{profile.site.short_name.lower()}/libexec/slurm-kernel-launcher"
        assert argv[argv.index("--partition") + 1] == kernel.partition
        assert argv[argv.index("--time") + 1] == walltime
        assert argv[argv.index("--kernel-name") + 1] == kernel.name
        inner = argv[argv.index("--") + 1 :]
        assert inner[1:3] == ["-m", "ipykernel_launcher"]
        assert spec["interrupt_mode"] == "message"
        assert spec["metadata"]["handbook"] == {
            "start": "slurm",
            "site": profile.site.short_name,
            "partition": kernel.partition,
            "walltime": walltime,
            **({"gpus": kernel.gpus} if kernel.gpus else {}),
        }
        if kernel.gpus:
            assert argv[argv.index("--gpus") + 1] == str(kernel.gpus)
        else:
            assert "--gpus" not in argv


def test_slurm_kernel_without_walltime_gets_the_partitions_limit(tiny: Profile) -> None:
    kernel = tiny.kernel("tnc-compute")

    assert kernel_walltime(kernel, tiny) == "2-00:00:00"


def test_kernels_of_another_centre_live_under_its_prefix(tiny: Profile) -> None:
    layout = site_layout(tiny)

    assert layout.prefix == Path("/opt/tnc")
    assert layout.modulefiles == Path("/opt/tnc/modulefiles")
    for kernel in tiny.kernels:
        assert "rcc" not in str(kernelspec(kernel, tiny)).lower()


def test_unsupported_kernel_language_is_a_clear_error(default_profile: Profile) -> None:
    julia = default_profile.kernels[0].model_copy(update={"name": "julia", "language": "julia"})

    with pytest.raises(ReferenceSiteError, match="'julia'"):
        kernelspec(julia, default_profile)


@pytest.mark.parametrize(
    ("launcher", "stops_with"),
    [("slurm_kernel_launcher", "scancel"), ("container_kernel_launcher", "remove_container")],
)
def test_launcher_scripts_get_a_shebang(launcher: str, stops_with: str) -> None:
    script = launcher_script(launcher, Path("/opt/x/libexec/venv/bin/python"))

    assert script.startswith("#!/opt/x/libexec/venv/bin/python\n")
    assert stops_with in script
    compile(script, launcher, "exec")


def test_container_kernelspec_runs_the_image_through_the_launcher(default_profile: Profile) -> None:
    kernel = default_profile.kernel_roles["container"]
    spec = kernelspec(kernel, default_profile)

    assert spec["argv"][0].endswith("libexec/container-kernel-launcher")
    assert "--image" in spec["argv"] and "localhost/debian-python:bookworm" in spec["argv"]
    # Every filesystem of the profile is mounted at its own path, so the user's files are where they are.
    assert {"--mount=/home", "--mount=/project", "--mount=/scratch"} <= set(spec["argv"])
    assert spec["argv"][-5:] == ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert set(spec["env"]) == {"CONTAINERS_STORAGE_CONF", "CONTAINERS_CONF"}
    assert spec["interrupt_mode"] == "message"


# --- helpers --------------------------------------------------------------


def test_site_jupyter_path_comes_first() -> None:
    env = site_jupyter_env({"JUPYTER_PATH": f"/somewhere:{site_jupyter_path()}"})

    assert env["JUPYTER_PATH"].split(":") == [site_jupyter_path(), "/somewhere"]
    assert site_jupyter_path() == "/usr/local/share/jupyter"


def test_next_version() -> None:
    assert next_version("12.2") == "13.2"
    assert next_version("2024.1") == "2025.1"
    assert next_version("beta") == "beta.1"


def test_site_command_has_up_down_status() -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())

    for action in ("up", "down", "status"):
        args = parser.parse_args(["site", action, "--site", "tests/profiles/tiny.yml"])
        assert args.site == "tests/profiles/tiny.yml"
        assert callable(args.run)


def test_a_daemon_that_fails_to_start_is_reported_with_its_logs_reason(tmp_path, monkeypatch):
    from hpc_handbook.reference_site import slurm

    (tmp_path / "slurmctld.log").write_text(
        "[2026-12-02T10:00:00.000] slurmctld version 22.05.8 started on cluster tnc\n"
        "[2026-12-02T10:00:00.100] fatal: CLUSTER NAME MISMATCH.\n"
        '[2026-12-02T10:00:00.100] fatal: slurmctld has been started with "ClusterName=tnc", '
        'but read "rcc" from the state files in StateSaveLocation.\n'
    )
    monkeypatch.setattr(slurm, "SITE_LOG_DIR", tmp_path)
    reason = slurm.daemon_failure("slurmctld")
    assert "CLUSTER NAME MISMATCH" in reason and 'read "rcc"' in reason
    assert "version 22.05.8 started" not in reason
    assert slurm.daemon_failure("slurmd").startswith("no log at ")


@pytest.mark.parametrize(
    ("shown", "minutes"),
    [
        ("7", 7),
        ("00:07:00", 7),
        ("1-00:00:00", 1440),
        ("24:00:00", 1440),
        ("2-12", 3600),
        ("UNLIMITED", None),
    ],
)
def test_slurm_time_limits_compare_in_minutes(shown, minutes):
    from hpc_handbook.reference_site.slurm import slurm_minutes

    assert slurm_minutes(shown) == minutes


def test_partition_drift_names_only_what_differs():
    from hpc_handbook.reference_site.slurm import partition_drift

    wanted = {"batch": {"Nodes": "ALL", "MaxTime": "24:00:00", "State": "UP", "MaxNodes": "4"}}
    running = {"batch": {"Nodes": "node1", "MaxTime": "1-00:00:00", "State": "DOWN", "MaxNodes": "4"}}
    assert partition_drift(wanted, running) == {"batch": {"State": "UP"}}
    assert partition_drift(wanted, {}) == {"batch": {"MaxTime": "24:00:00", "State": "UP", "MaxNodes": "4"}}


def test_srun_ports_lie_outside_the_ephemeral_ports_the_hub_and_kernels_pick(profile: Profile) -> None:
    text = slurm_conf(profile, controller="node1")
    (line,) = [line for line in text.splitlines() if line.startswith("SrunPortRange=")]
    low, high = (int(port) for port in line.removeprefix("SrunPortRange=").split("-"))
    ephemeral_low, ephemeral_high = (
        int(port) for port in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    )
    assert low <= high < 65536
    assert high < ephemeral_low or low > ephemeral_high
