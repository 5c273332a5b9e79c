"""The probe's pure parts: parsing Slurm, Lmod and Jupyter output, kernel entries, fingerprints, snapshots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hpc_handbook.data.snapshot import (
    PartitionEntry,
    Snapshot,
    committed_snapshot,
    compared_content,
    dump_snapshot,
    load_snapshot,
    parse_snapshot,
    slurm_duration_seconds,
    write_snapshot,
)
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.kernelspecs import SITE_JUPYTER_DATA_DIR, site_jupyter_environment, site_jupyter_path
from hpc_handbook.probe.jupyter import parse_labextension_list, parse_server_extension_list
from hpc_handbook.probe.kernels import (
    fingerprint,
    kernel_entry,
    kernel_start,
    parse_snippet_output,
    version_snippet,
)
from hpc_handbook.probe.modules import modules_from_lmod_json, modules_from_terse_avail
from hpc_handbook.probe.partitions import node_state, partitions_from_scontrol

# `scontrol show partition --oneliner` and `show node --oneliner` of Slurm 22.05, node names replaced.
PARTITIONS = (
    "PartitionName=interactive AllowGroups=ALL Default=NO MaxNodes=1 MaxTime=04:00:00 MinNodes=0 "
    "Nodes=node01 State=UP TotalCPUs=16 TotalNodes=1 DefMemPerNode=UNLIMITED MaxMemPerNode=8192 "
    "TRES=cpu=16,mem=16G,node=1\n"
    "PartitionName=batch AllowGroups=ALL Default=YES MaxNodes=4 MaxTime=1-00:00:00 Nodes=node[01-02] "
    "State=UP TotalCPUs=48 TotalNodes=2 MaxMemPerNode=UNLIMITED\n"
    "PartitionName=gpu Default=NO MaxNodes=UNLIMITED MaxTime=UNLIMITED Nodes=node02 State=DOWN TotalCPUs=32 "
    "TotalNodes=1 MaxMemPerNode=UNLIMITED\n"
)
NODES = (
    "NodeName=node01 Arch=x86_64 CPUTot=16 Gres=(null) RealMemory=16384 State=IDLE "
    "Partitions=interactive,batch\n"
    "NodeName=node02 Arch=x86_64 CPUTot=32 Gres=gpu:a100:4(S:0-1),shard:8 RealMemory=64000 State=MIXED "
    "Partitions=batch,gpu\n"
)


def test_partitions_from_scontrol_read_limits_memory_and_gpus() -> None:
    partitions = partitions_from_scontrol(PARTITIONS, NODES)
    assert set(partitions["batch"].pop("nodes")) == {"node01", "node02"}
    assert partitions["interactive"].pop("nodes")["node01"]["cpus"] == 16
    assert partitions["interactive"] == {
        "state": "UP",
        "default": False,
        "max_time": "04:00:00",
        "max_nodes": 1,
        "total_nodes": 1,
        "total_cpus": 16,
        "memory_per_node_mb": 8192,  # the partition's cap, below the node's 16 GB
        "gpus_per_node": 0,
    }
    assert partitions["batch"]["default"] is True
    assert partitions["batch"]["memory_per_node_mb"] == 16384  # no cap: the smallest node
    assert partitions["batch"]["gpus_per_node"] == 0  # the smallest node has none
    assert partitions["gpu"]["gpus_per_node"] == 4
    assert partitions["gpu"]["max_nodes"] == "UNLIMITED"
    assert partitions["gpu"]["state"] == "DOWN"


# `scontrol show node --oneliner` of Slurm 22.05 for a site whose nodes run elsewhere than
# their Slurm names say: one drained (by an admin), one down and not responding, one allocated.
SITE_NODES = (
    "NodeName=cn001 Arch=x86_64 CoresPerSocket=16  CPUAlloc=0 CPUEfctv=32 CPUTot=32 CPULoad=0.01 "
    "AvailableFeatures=cpu,avx512 ActiveFeatures=cpu,avx512 Gres=(null) NodeAddr=10.20.1.1 "
    "NodeHostName=host-a17.cluster.example Version=22.05.8 OS=Linux 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC "
    "Debian 6.1.76-1 (2024-02-01)  RealMemory=192000 AllocMem=0 FreeMem=180213 Sockets=2 Boards=1 "
    "State=IDLE+DRAIN ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A Partitions=batch  "
    "BootTime=2026-11-30T08:12:44 SlurmdStartTime=2026-11-30T08:13:02 LastBusyTime=2026-12-02T21:00:00 "
    "CfgTRES=cpu=32,mem=187.50G,billing=32 AllocTRES= CapWatts=n/a CurrentWatts=0 AveWatts=0 "
    "ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s "
    "Reason=memory errors on DIMM 3 [ops-admin@2026-12-02T21:04:11]\n"
    "NodeName=cn002 Arch=x86_64 CoresPerSocket=16  CPUAlloc=0 CPUEfctv=32 CPUTot=32 CPULoad=N/A "
    "AvailableFeatures=cpu,avx512 ActiveFeatures=cpu,avx512 Gres=(null) NodeAddr=10.20.1.2 "
    "NodeHostName=host-a18.cluster.example Version=22.05.8 RealMemory=192000 AllocMem=0 FreeMem=N/A "
    "Sockets=2 Boards=1 State=DOWN* ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A "
    "Partitions=batch  BootTime=None SlurmdStartTime=None LastBusyTime=2026-12-01T10:00:00 "
    "CfgTRES=cpu=32,mem=187.50G,billing=32 AllocTRES= CapWatts=n/a CurrentWatts=0 AveWatts=0 "
    "ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s "
    "Reason=Not responding [slurm@2026-12-01T10:05:00]\n"
    "NodeName=gn001 Arch=x86_64 CoresPerSocket=24  CPUAlloc=12 CPUEfctv=48 CPUTot=48 CPULoad=11.90 "
    "AvailableFeatures=gpu,a100 ActiveFeatures=gpu,a100 Gres=gpu:a100:4(S:0-1) NodeAddr=10.20.2.1 "
    "NodeHostName=host-g01.cluster.example Version=22.05.8 RealMemory=512000 AllocMem=64000 "
    "FreeMem=400000 Sockets=2 Boards=1 State=MIXED ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A "
    "MCS_label=N/A Partitions=gpu,batch  BootTime=2026-11-29T07:00:00 SlurmdStartTime=2026-11-29T07:01:00 "
    "CfgTRES=cpu=48,mem=500G,billing=48,gres/gpu=4 AllocTRES=cpu=12,mem=62.50G,gres/gpu=1\n"
)
SITE_PARTITIONS = (
    "PartitionName=batch Default=YES MaxNodes=UNLIMITED MaxTime=2-00:00:00 Nodes=cn[001-002],gn001 "
    "State=UP TotalCPUs=112 TotalNodes=3 MaxMemPerNode=UNLIMITED\n"
    "PartitionName=gpu Default=NO MaxNodes=1 MaxTime=1-00:00:00 Nodes=gn001 State=UP TotalCPUs=48 "
    "TotalNodes=1 MaxMemPerNode=UNLIMITED\n"
)


def test_each_partition_lists_its_nodes_with_their_state_and_what_they_offer() -> None:
    partitions = partitions_from_scontrol(SITE_PARTITIONS, SITE_NODES)
    batch = partitions["batch"]["nodes"]
    assert list(batch) == ["cn001", "cn002", "gn001"]
    # The admin's reason, without who drained the node and when.
    assert batch["cn001"] == {
        "state": "drained",
        "reason": "memory errors on DIMM 3",
        "cpus": 32,
        "memory_mb": 192000,
        "features": ["avx512", "cpu"],
        "gpus": 0,
    }
    assert (batch["cn002"]["state"], batch["cn002"]["reason"]) == ("down", "Not responding")
    assert partitions["gpu"]["nodes"] == {
        "gn001": {
            "state": "up",
            "reason": "",
            "cpus": 48,
            "memory_mb": 512000,
            "features": ["a100", "gpu"],
            "gpus": 4,
        }
    }
    assert PartitionEntry.model_validate(partitions["gpu"]).nodes["gn001"].gpus == 4


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("IDLE", "up"),
        ("MIXED", "up"),
        ("ALLOCATED", "up"),
        ("ALLOCATED+COMPLETING", "up"),
        ("IDLE+DRAIN", "drained"),
        ("MIXED+DRAIN", "drained"),
        ("DRAINED", "drained"),
        ("DRAINING", "drained"),
        ("DOWN", "down"),
        ("DOWN*", "down"),
        ("IDLE*", "down"),
        ("DOWN+DRAIN", "down"),
        ("IDLE+NOT_RESPONDING", "down"),
        ("FAIL", "down"),
        ("ALLOCATED+FAIL", "down"),
    ],
)
def test_slurm_node_states_read_as_up_drained_or_down(state: str, expected: str) -> None:
    assert node_state(state) == expected


def test_where_a_node_runs_never_reaches_the_snapshot() -> None:
    # Its Slurm name is the site's public name for it; the host behind it is not.
    text = json.dumps(partitions_from_scontrol(SITE_PARTITIONS, SITE_NODES))
    for private in ("host-a17", "cluster.example", "10.20.", "ops-admin", "2026-", "Linux", "Boot"):
        assert private not in text
    assert '"cn001"' in text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("04:00:00", 4 * 3600),
        ("1-00:00:00", 24 * 3600),
        ("2-12:30:00", 60 * 3600 + 1800),
        ("30:00", 1800),
        ("90", 5400),
        ("1-0", 24 * 3600),
        ("UNLIMITED", None),
        ("infinite", None),
    ],
)
def test_slurm_durations(text: str, seconds: int | None) -> None:
    assert slurm_duration_seconds(text) == seconds


def test_a_bad_duration_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a Slurm time"):
        slurm_duration_seconds("soon")


LMOD_SOFTWARE_PAGE = json.dumps(
    [
        {
            "package": "gcc",
            "defaultVersionName": "12.2",
            "versions": [
                {"versionName": "13.2", "markedDefault": False, "full": "gcc/13.2"},
                {"versionName": "12.2", "markedDefault": True, "full": "gcc/12.2"},
                {"versionName": "12.10", "markedDefault": False, "full": "gcc/12.10"},
            ],
        },
        {
            "package": "hdf5",
            "defaultVersionName": "1.14",
            "versions": [{"versionName": "1.14", "markedDefault": False}],
        },
    ]
)


def test_modules_from_lmods_software_page_keep_versions_and_the_default() -> None:
    modules = modules_from_lmod_json(LMOD_SOFTWARE_PAGE)
    assert modules == {
        "gcc": {"versions": ["12.2", "12.10", "13.2"], "default": "12.2"},
        "hdf5": {"versions": ["1.14"], "default": "1.14"},
    }


def test_modules_from_terse_avail_are_the_fallback() -> None:
    avail = "/opt/rcc/modulefiles:\ngcc/\ngcc/12.2\ngcc/13.2\nhdf5/\nhdf5/1.14\npython-stack/2024.1\n"
    defaults = "/opt/rcc/modulefiles:\ngcc/12.2\nhdf5/1.14\npython-stack/2024.1\n"
    modules = modules_from_terse_avail(avail, defaults)
    assert modules["gcc"] == {"versions": ["12.2", "13.2"], "default": "12.2"}
    assert modules["python-stack"] == {"versions": ["2024.1"], "default": "2024.1"}


def test_jupyter_extension_lists_are_parsed_without_colours() -> None:
    lab = (
        "JupyterLab v4.2.5\n/usr/share/jupyter/labextensions\n"
        "        jupyterlab_pygments v0.3.0 \x1b[32menabled\x1b[0m \x1b[32mOK\x1b[0m "
        "(python, jupyterlab_pygments)\n"
        "        jupyterlab-lmod v1.0.1 disabled OK\n"
    )
    assert parse_labextension_list(lab) == {
        "jupyterlab_pygments": {"version": "0.3.0", "enabled": True},
        "jupyterlab-lmod": {"version": "1.0.1", "enabled": False},
    }
    server = (
        "Config dir: /etc/jupyter\n    jupyterlab \x1b[32menabled\x1b[0m\n    - Validating jupyterlab...\n"
        "      jupyterlab 4.2.5 \x1b[32mOK\x1b[0m\n"
        "    notebook_shim enabled\n    - Validating notebook_shim...\n"
        "      notebook_shim  OK\n"
    )
    assert parse_server_extension_list(server) == {
        "jupyterlab": {"version": "4.2.5", "enabled": True},
        "notebook_shim": {"version": None, "enabled": True},
    }


# --- Kernels ------------------------------------------------------------------------------


def test_the_python_snippet_reports_versions_from_its_own_environment() -> None:
    code = version_snippet("python", ["pytest", "surely-not-installed"])
    assert code is not None
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    reported = parse_snippet_output(out)
    assert reported is not None
    assert reported["language_version"] == ".".join(map(str, sys.version_info[:3]))
    assert reported["packages"]["pytest"] == pytest.__version__
    assert reported["packages"]["surely-not-installed"] is None


def test_the_bash_snippet_reports_bashs_version() -> None:
    code = version_snippet("bash", ["bash_kernel"])
    assert code is not None
    out = subprocess.run(["bash", "-c", code], capture_output=True, text=True, check=True).stdout
    reported = parse_snippet_output(out)
    assert reported is not None
    assert reported["language_version"].count(".") == 2


def test_an_unknown_language_gets_no_snippet_and_noise_is_ignored() -> None:
    assert version_snippet("julia", []) is None
    assert parse_snippet_output("no marker here") is None


SPEC = {
    "argv": ["/opt/site/kernels/bash/bin/python", "-m", "bash_kernel", "-f", "{connection_file}"],
    "display_name": "Bash",
    "language": "bash",
    "metadata": {"handbook": {"start": "local", "site": "RCC"}},
}
INFO = {
    "implementation": "bash_kernel",
    "implementation_version": "0.10.0",
    "language_info": {"version": "5.2"},
}


def test_a_kernels_own_package_version_comes_from_kernel_info() -> None:
    entry = kernel_entry(
        spec=SPEC,
        packages=["bash_kernel"],
        reported={"language_version": "5.2.15", "packages": {}},
        kernel_info=INFO,
        error=None,
    )
    assert entry["packages"] == {"bash_kernel": "0.10.0"}
    assert entry["language_version"] == "5.2.15"
    assert entry["start"] == "local"
    assert "argv" not in json.dumps(entry)  # install paths stay out of the snapshot


def test_the_fingerprint_changes_with_a_version_or_the_spec_and_only_then() -> None:
    def entry(spec: dict, version: str) -> dict:
        reported = {"language_version": "5.2.15", "packages": {}}
        info = {**INFO, "implementation_version": version}
        return kernel_entry(
            spec=spec, packages=["bash_kernel"], reported=reported, kernel_info=info, error=None
        )

    same = entry(SPEC, "0.10.0")["fingerprint"]
    assert entry(SPEC, "0.10.0")["fingerprint"] == same
    assert entry(SPEC, "0.10.1")["fingerprint"] != same
    assert entry({**SPEC, "env": {"PS1": "$"}}, "0.10.0")["fingerprint"] != same
    assert fingerprint({"b": 1, "a": 2}) == fingerprint({"a": 2, "b": 1})


def test_a_failed_kernel_is_recorded_with_its_error_and_no_versions() -> None:
    entry = kernel_entry(
        spec=SPEC,
        packages=["bash_kernel"],
        reported=None,
        kernel_info=None,
        error="the kernel did not answer",
    )
    assert entry["error"] == "the kernel did not answer"
    assert entry["packages"] == {"bash_kernel": None}
    assert entry["language_version"] is None


def test_kernel_start_reads_handbook_metadata() -> None:
    assert kernel_start({"handbook": {"start": "slurm", "partition": "batch", "walltime": "01:00:00"}}) == (
        "slurm",
        {"partition": "batch", "walltime": "01:00:00"},
    )
    assert kernel_start({}) == ("unknown", {})


def test_the_site_kernel_dir_comes_first_in_jupyter_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(["/somewhere", SITE_JUPYTER_DATA_DIR]))
    assert site_jupyter_path().split(os.pathsep) == [SITE_JUPYTER_DATA_DIR, "/somewhere"]
    with site_jupyter_environment():
        assert os.environ["JUPYTER_PATH"].split(os.pathsep)[0] == SITE_JUPYTER_DATA_DIR
    assert os.environ["JUPYTER_PATH"] == os.pathsep.join(["/somewhere", SITE_JUPYTER_DATA_DIR])


# --- Snapshots ----------------------------------------------------------------------------


BATCH = {
    "state": "UP",
    "default": True,
    "max_time": "1-00:00:00",
    "max_nodes": 4,
    "total_nodes": 1,
    "total_cpus": 16,
    "memory_per_node_mb": 8192,
    "gpus_per_node": 0,
}


def snapshot(taken: str = "2026-11-25") -> dict:
    """A snapshot as the JSON the probe writes."""
    return {
        "format": 1,
        "taken": taken,
        "site": "RCC",
        "kernels": {},
        "partitions": {"batch": BATCH},
        "modules": {"available": {}, "error": None},
        "jupyter": {
            "source": "users-server",
            "packages": {},
            "lab_extensions": {},
            "server_extensions": {},
            "proxy_apps": [],
            "error": None,
        },
        "versions": {"slurm": "22.05.8", "lmod": "8.6.19"},
        "hub": None,
        "retired": {"partitions": [], "kernels": [], "modules": ["gcc/11.1"], "extensions": []},
    }


def test_the_taken_date_is_not_compared() -> None:
    assert compared_content(snapshot("2026-11-25")) == compared_content(snapshot("2027-01-01"))
    assert "taken" not in compared_content(snapshot())


def test_snapshots_are_written_deterministically(tmp_path: Path) -> None:
    first, second = snapshot(), dict(reversed(list(snapshot().items())))
    assert dump_snapshot(first) == dump_snapshot(second)
    path = tmp_path / "data" / "snapshot.json"
    write_snapshot(path, first)
    assert path.read_text() == dump_snapshot(first)
    assert json.loads(path.read_text()) == first
    assert load_snapshot(path) == Snapshot.model_validate(first)
    assert load_snapshot(tmp_path / "data" / "none.json") is None


def test_the_committed_snapshot_loads_and_is_written_back_unchanged() -> None:
    path = Path(__file__).resolve().parents[2] / "book" / "data" / "snapshot.json"
    loaded = load_snapshot(path)
    assert loaded is not None and loaded.format_version == 1
    assert dump_snapshot(loaded) == path.read_text(encoding="utf-8")


def test_a_snapshot_from_before_nodes_were_recorded_loads_and_is_written_back_as_it_was() -> None:
    old = snapshot()
    assert "nodes" not in old["partitions"]["batch"]
    loaded = parse_snapshot(json.dumps(old), file="snapshot.json")
    assert loaded.partitions["batch"].nodes == {}
    assert json.loads(dump_snapshot(loaded)) == old
    # With nodes, they are written.
    node = {
        "state": "drained",
        "reason": "disk",
        "cpus": 8,
        "memory_mb": 8192,
        "features": ["cpu"],
        "gpus": 0,
    }
    new = _with(partitions={"batch": {**BATCH, "nodes": {"rcc-cpu01": node}}})
    assert json.loads(dump_snapshot(parse_snapshot(new, file="snapshot.json")))["partitions"]["batch"][
        "nodes"
    ] == {"rcc-cpu01": node}


def test_a_node_state_other_than_up_drained_or_down_is_bad_input() -> None:
    node = {"state": "IDLE", "cpus": 8, "memory_mb": 8192}
    with pytest.raises(HandbookInputError) as error:
        parse_snapshot(_with(partitions={"batch": {**BATCH, "nodes": {"n1": node}}}), file="snapshot.json")
    assert error.value.where == "partitions.batch.nodes.n1.state"


def test_a_snapshot_without_a_format_is_read_as_the_first_format() -> None:
    data = snapshot()
    del data["format"]
    assert parse_snapshot(json.dumps(data), file="snapshot.json").format_version == 1


def _with(**changes: object) -> str:
    return json.dumps({**snapshot(), **changes})


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("{", "line 1"),
        ("[]", ""),
        (_with(kernels=[]), "kernels"),
        (_with(format=9), "format"),
        (_with(partitions={"batch": {**BATCH, "state": None}}), "partitions.batch.state"),
        (_with(partitions={"batch": {**BATCH, "nodes": ["node01"]}}), "partitions.batch.nodes"),
        (_with(taken="last week"), "taken"),
    ],
)
def test_a_bad_snapshot_is_bad_input(text: str, where: str) -> None:
    with pytest.raises(HandbookInputError) as error:
        parse_snapshot(text, file="snapshot.json")
    assert error.value.where == where
    assert error.value.file == "snapshot.json"
    assert error.value.exit_code == 2


def test_the_committed_snapshot_comes_from_git_head(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    path = tmp_path / "book" / "data" / "snapshot.json"
    write_snapshot(path, snapshot("2026-11-01"))
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "snapshot")
    write_snapshot(path, snapshot("2026-11-25"))
    committed = committed_snapshot(path)
    assert committed is not None and committed.taken.isoformat() == "2026-11-01"
    assert committed_snapshot(tmp_path / "book" / "data" / "other.json") is None
