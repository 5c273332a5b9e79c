"""The site profile: good profiles load, and each class of mistake gets one clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hpc_handbook.cli import main
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.profile import load_profile

REPO = Path(__file__).resolve().parents[2]
PROFILES = [REPO / "site.yml", REPO / "tests" / "profiles" / "tiny.yml"]


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.name)
def test_shipped_profiles_are_valid(path):
    profile = load_profile(path)
    assert len(profile.partitions) >= 3
    assert any(not p.jupyter for p in profile.partitions)
    assert {k.start for k in profile.kernels} >= {"local", "modules", "slurm"}


def write_profile(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load((REPO / "site.yml").read_text())
    edit(data)
    path = tmp_path / "site.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def error_for(path: Path) -> HandbookInputError:
    with pytest.raises(HandbookInputError) as caught:
        load_profile(path)
    return caught.value


def test_missing_key_is_named(tmp_path):
    path = write_profile(tmp_path, lambda d: d["support"].pop("email"))
    error = error_for(path)
    assert error.file == str(path)
    assert error.where == "support.email"
    assert "required key is missing" in error.problem


def test_wrong_type_names_the_key_path_and_the_expectation(tmp_path):
    path = write_profile(
        tmp_path, lambda d: d["systems"][0]["partitions"][1]["limits"].update(max_nodes="four")
    )
    error = error_for(path)
    assert error.where == "systems[0].partitions[1].limits.max_nodes"
    assert "integer" in error.problem and "'four'" in error.problem


def test_bad_walltime_is_rejected(tmp_path):
    path = write_profile(
        tmp_path, lambda d: d["systems"][0]["partitions"][0]["limits"].update(max_walltime="2 hours")
    )
    assert error_for(path).where == "systems[0].partitions[0].limits.max_walltime"


def test_unknown_partition_referenced_by_a_kernel(tmp_path):
    def edit(data):
        next(k for k in data["kernels"] if k["start"] == "slurm")["partition"] = "gpu-nowhere"

    error = error_for(write_profile(tmp_path, edit))
    assert error.where.startswith("kernels[") and error.where.endswith("].partition")
    assert "unknown partition 'gpu-nowhere'" in error.problem
    assert "interactive" in error.problem  # lists what was expected


def _container_kernel(data):
    return next(k for k in data["kernels"] if k["start"] == "container")


def test_unknown_image_of_a_container_kernel_names_the_images(tmp_path):
    error = error_for(write_profile(tmp_path, lambda d: _container_kernel(d).update(image="ubuntu")))
    assert error.where.startswith("kernels[") and error.where.endswith("].image")
    assert "unknown image 'ubuntu'" in error.problem and "debian-python" in error.problem


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: _container_kernel(d).pop("image"), "needs an 'image'"),
        (lambda d: _container_kernel(d).update(language="R"), "must be a Python kernel"),
        (lambda d: d["kernels"][0].update(image="debian-python"), "only a kernel with start: container"),
        (lambda d: d["containers"][0].update(packages=["Not A Package"]), "should match pattern"),
        (lambda d: d["containers"][0].update(debian_suite="sid"), "'bookworm' or 'trixie'"),
    ],
    ids=["no-image", "not-python", "image-on-local", "bad-package", "unknown-suite"],
)
def test_container_mistakes_are_named(tmp_path, edit, expected):
    error = error_for(write_profile(tmp_path, edit))
    assert expected.lower() in error.problem.lower(), error.problem


def test_kernel_on_a_partition_jupyter_cannot_reach(tmp_path):
    def edit(data):
        next(k for k in data["kernels"] if k["start"] == "slurm")["partition"] = "largemem"

    assert "jupyter: false" in error_for(write_profile(tmp_path, edit)).problem


@pytest.mark.parametrize(
    ("section", "where"),
    [("kernels", "kernels"), ("filesystems", "filesystems")],
)
def test_duplicate_names(tmp_path, section, where):
    path = write_profile(tmp_path, lambda d: d[section].append(dict(d[section][0])))
    error = error_for(path)
    assert error.where == where
    assert "duplicate name" in error.problem


def test_duplicate_partition_names_across_systems(tmp_path):
    def edit(data):
        data["systems"][0]["partitions"][2]["name"] = data["systems"][0]["partitions"][0]["name"]

    assert "duplicate name" in error_for(write_profile(tmp_path, edit)).problem


def test_unknown_key_is_a_typo_not_a_setting(tmp_path):
    path = write_profile(tmp_path, lambda d: d["site"].update(hub_ulr="https://typo.example"))
    error = error_for(path)
    assert error.where == "site.hub_ulr" and "unknown key" in error.problem


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "site.yml"
    path.write_text("site:\n  name: [unclosed\n")
    error = error_for(path)
    assert error.where.startswith("line ")


def test_cli_exits_2_with_one_message_per_mistake(tmp_path, capsys):
    def edit(data):
        data["support"].pop("email")
        data["kernels"].append(dict(data["kernels"][0]))

    path = write_profile(tmp_path, edit)
    assert main(["profile", "--site", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path} at support.email: required key is missing" in err


def test_book_is_not_built_for_a_bad_profile(tmp_path, capsys):
    path = write_profile(tmp_path, lambda d: d.pop("kernels"))
    output = tmp_path / "out"
    assert main(["book", "--site", str(path), "--output", str(output)]) == 2
    assert "kernels: required key is missing" in capsys.readouterr().err
    assert not output.exists()


def test_filesystems_must_cover_home_project_and_scratch(tmp_path):
    path = write_profile(
        tmp_path, lambda d: d.update(filesystems=[f for f in d["filesystems"] if f["name"] != "scratch"])
    )
    error = error_for(path)
    assert error.where == "filesystems" and "missing: scratch" in error.problem


def test_two_kernels_claiming_one_role(tmp_path):
    def edit(data):
        first = next(k for k in data["kernels"] if k["name"] == "python3")
        first["role"] = "python"
        data["kernels"].append(dict(first, name="python3-again"))

    error = error_for(write_profile(tmp_path, edit))
    assert error.where.startswith("kernels[") and error.where.endswith("].role")
    assert "role 'python' is already claimed by kernel 'python3'" in error.problem


def test_a_role_the_kernel_cannot_play(tmp_path):
    def edit(data):
        next(k for k in data["kernels"] if k["language"] == "bash")["role"] = "slurm"

    error = error_for(write_profile(tmp_path, edit))
    assert error.where.endswith("].role")
    assert "cannot play 'slurm': that role needs a kernel that runs in its own Slurm job" in error.problem


def test_an_unknown_role_names_the_roles(tmp_path):
    def edit(data):
        data["kernels"][0]["role"] = "wizard"

    error = error_for(write_profile(tmp_path, edit))
    assert error.where == "kernels[0].role"
    assert "'python'" in error.problem and "'bash'" in error.problem


def test_a_claimed_role_wins_over_the_first_kernel_that_fits(tmp_path):
    def edit(data):
        extra = dict(next(k for k in data["kernels"] if k["language"] == "bash"), name="bash-late")
        extra["role"] = "bash"
        data["kernels"].append(extra)

    profile = load_profile(write_profile(tmp_path, edit))
    assert profile.kernel_roles["bash"].name == "bash-late"


def test_hub_account_must_be_a_reference_site_account(tmp_path):
    path = write_profile(tmp_path, lambda d: d["hub"].update(doc_ci_user="nobody-here"))
    error = error_for(path)
    assert error.where == "hub.doc_ci_user"
    assert "unknown account 'nobody-here'" in error.message
    assert "rcc-novice, rcc-docci" in error.message


def test_account_names_must_be_unix_names(tmp_path):
    path = write_profile(tmp_path, lambda d: d["reference_site"]["users"][0].update(name="Root User"))
    assert error_for(path).where == "reference_site.users[0].name"


def test_duplicate_accounts_and_one_port_for_two_services(tmp_path):
    def edit(data):
        data["reference_site"]["users"][1]["name"] = data["reference_site"]["users"][0]["name"]
        data["reference_site"]["hub_api_port"] = data["reference_site"]["hub_port"]

    with pytest.raises(Exception) as raised:
        load_profile(write_profile(tmp_path, edit))
    text = str(raised.value)
    assert "reference_site.users" in text and "duplicate name 'rcc-novice'" in text
    assert "reference_site.hub_api_port" in text


def test_an_unknown_account_purpose_names_the_purposes(tmp_path):
    path = write_profile(tmp_path, lambda d: d["reference_site"]["users"][0].update(purpose="admin"))
    error = error_for(path)
    assert error.where == "reference_site.users[0].purpose"
    assert "novice" in error.message and "doc-ci" in error.message


# --- nodes, GPUs and the doc CI's partition ------------------------------------------------


def partition_index(data: dict, name: str) -> int:
    return next(i for i, p in enumerate(data["systems"][0]["partitions"]) if p["name"] == name)


def edit_partition(name: str, edit):
    def apply(data: dict) -> None:
        edit(data["systems"][0]["partitions"][partition_index(data, name)])

    return apply


def test_a_node_in_two_partitions_is_named(tmp_path):
    path = write_profile(tmp_path, edit_partition("largemem", lambda p: p["nodes"].update(names="rcc-cpu04")))
    error = error_for(path)
    largemem = partition_index(yaml.safe_load(path.read_text()), "largemem")
    assert error.where == f"systems[0].partitions[{largemem}].nodes.names"
    assert "node 'rcc-cpu04' is already in partition 'batch'" in error.problem


def test_a_job_may_not_span_more_nodes_than_the_partition_has(tmp_path):
    path = write_profile(tmp_path, edit_partition("batch", lambda p: p["limits"].update(max_nodes=5)))
    error = error_for(path)
    assert error.where.endswith(".limits.max_nodes")
    assert "5 nodes per job, but the partition has 4 (rcc-cpu[01-04])" in error.problem


def test_a_memory_limit_beyond_the_nodes_memory_is_named(tmp_path):
    path = write_profile(tmp_path, edit_partition("batch", lambda p: p["nodes"].update(memory_gb=2)))
    error = error_for(path)
    assert error.where.endswith(".limits.memory_per_node_gb")
    assert "but its nodes have 2 GB" in error.problem


@pytest.mark.parametrize("names", ["rcc-cpu[04-01]", "rcc-cpu[01-02],rcc-cpu02", "CPU01"])
def test_a_bad_hostlist_is_named(tmp_path, names):
    path = write_profile(tmp_path, edit_partition("batch", lambda p: p["nodes"].update(names=names)))
    error = error_for(path)
    assert error.where.endswith(".nodes.names") or error.where.endswith(".nodes")


def test_gpu_scheduling_needs_a_partition_with_gpus(tmp_path):
    def edit(data):
        edit_partition("gpu", lambda p: p["limits"].update(gpus_per_node=0))(data)
        data["kernels"] = [k for k in data["kernels"] if not k.get("gpus")]

    error = error_for(write_profile(tmp_path, edit))
    assert error.where == "capabilities.gpu_scheduling"
    assert "no partition declares GPUs" in error.problem


def test_a_kernel_may_not_ask_for_more_gpus_than_a_node_has(tmp_path):
    def edit(data):
        next(k for k in data["kernels"] if k.get("gpus")).update(gpus=3)

    error = error_for(write_profile(tmp_path, edit))
    assert error.where.startswith("kernels[") and error.where.endswith("].gpus")
    assert "3 GPUs, but partition 'gpu' has 2 per node" in error.problem


def test_an_unknown_doc_ci_partition_is_named(tmp_path, capsys):
    path = write_profile(tmp_path, lambda d: d["doc_ci"].update(dispatch_partition="nowhere"))
    assert main(["profile", "--site", str(path)]) == 2
    assert f"{path} at doc_ci.dispatch_partition: unknown partition 'nowhere'" in capsys.readouterr().err


def test_more_doc_ci_nodes_than_its_partition_has_are_refused(tmp_path, capsys):
    path = write_profile(tmp_path, lambda d: d["doc_ci"].update(dispatch_nodes=9))
    assert main(["profile", "--site", str(path)]) == 2
    assert f"{path} at doc_ci.dispatch_nodes: expected at most 4: partition 'batch' has 4 node(s)" in (
        capsys.readouterr().err
    )


def test_more_nodes_than_the_reference_site_can_run_is_refused(tmp_path):
    from hpc_handbook.reference_site.command import _site_profile

    path = write_profile(
        tmp_path, edit_partition("batch", lambda p: p["nodes"].update(names="rcc-cpu[01-40]"))
    )
    with pytest.raises(HandbookInputError) as caught:
        _site_profile(str(path))
    assert caught.value.where == "systems[].partitions[].nodes"
    assert "expected at most 16" in caught.value.problem


def test_nodes_declaring_far_more_cpus_than_the_machine_has_are_refused(tmp_path):
    import os

    from hpc_handbook.reference_site.command import _site_profile

    cpus = 17 * (os.cpu_count() or 1)
    path = write_profile(tmp_path, edit_partition("batch", lambda p: p["nodes"].update(cpus=cpus)))
    with pytest.raises(HandbookInputError) as caught:
        _site_profile(str(path))
    assert caught.value.where.endswith(".nodes.cpus")
    assert f"{cpus} CPUs per node" in caught.value.problem
