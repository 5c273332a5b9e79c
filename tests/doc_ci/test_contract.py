"""The example contract: bad metadata gets a clear error naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hpc_handbook.cli import main
from hpc_handbook.doc_ci.run.planning import plan_jobs
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.examples.contract import discover_examples, load_example
from hpc_handbook.profile import load_profile
from hpc_handbook.site_facts import site_parameters

REPO = Path(__file__).resolve().parents[2]


def test_committed_examples_follow_the_contract(profile):
    examples = discover_examples(REPO / "examples", profile)
    assert examples, "the handbook has no examples"
    for example in examples:
        assert set(example.parameter_names) <= set(site_parameters(profile))


def test_language_selector_picks_every_kernel_of_that_language(write_example, profile):
    path = write_example("all-python", ["1"], kernels=["language:python"])
    example = load_example(path, profile)
    assert example.kernels == tuple(k.name for k in profile.kernels if k.language == "python")


def test_committed_examples_name_kernels_by_role_not_by_a_sites_name():
    # Another centre's kernels have other names: an example that names one runs nowhere else.
    for path in sorted((REPO / "examples").glob("*.ipynb")):
        selectors = json.loads(path.read_text())["metadata"]["handbook"]["kernels"]
        named = [s for s in selectors if not s.startswith(("role:", "language:"))]
        assert not named, f"{path.name} names site kernels {named}; use role: or language: selectors"


@pytest.mark.parametrize("profile_file", ["site.yml", "tests/profiles/tiny.yml"])
def test_roles_resolve_to_each_sites_own_kernel(write_example, profile_file):
    site = load_profile(REPO / profile_file)
    path = write_example("by-role", ["1"], kernels=["role:bash", "role:slurm"])
    example = load_example(path, site)
    roles = site.kernel_roles
    assert example.kernels == (roles["bash"].name, roles["slurm"].name)
    assert roles["slurm"].start == "slurm" and roles["bash"].language == "bash"


@pytest.mark.parametrize("profile_file", ["site.yml", "tests/profiles/tiny.yml"])
def test_partition_roles_resolve_to_each_sites_own_partition(write_example, profile_file):
    site = load_profile(REPO / profile_file)
    path = write_example("on-batch", ["1"], kernels=["role:python"], runs_on={"partition": "role:batch"})
    assert load_example(path, site).partition == site.batch_partition.name


def test_a_role_the_site_lacks_is_skipped_with_the_reason(write_example, tmp_path):
    data = yaml.safe_load((REPO / "site.yml").read_text())
    data["kernels"] = [k for k in data["kernels"] if k["language"] != "R"]
    (tmp_path / "no-r.yml").write_text(yaml.safe_dump(data))
    site = load_profile(tmp_path / "no-r.yml")
    path = write_example("needs-r", ["1"], kernels=["role:r", "role:python"])
    example = load_example(path, site)
    assert example.kernels == (site.kernel_roles["python"].name,)
    jobs, skipped = plan_jobs([example], {})
    assert [job.kernel for job in jobs] == [site.kernel_roles["python"].name]
    assert [(r.kernel, r.status) for r in skipped] == [("role:r", "skipped")]
    reason = "this site has no kernel for role:r, an R kernel (language R)"
    assert skipped[0].reason == reason


def test_a_site_without_gpus_skips_an_example_that_takes_the_gpu_partition(write_example, tmp_path):
    data = yaml.safe_load((REPO / "site.yml").read_text())
    partitions = data["systems"][0]["partitions"]
    partitions[:] = [p for p in partitions if not p["limits"]["gpus_per_node"]]
    data["kernels"] = [k for k in data["kernels"] if not k.get("gpus")]
    data["capabilities"]["gpu_scheduling"] = False
    (tmp_path / "no-gpus.yml").write_text(yaml.safe_dump(data))
    site = load_profile(tmp_path / "no-gpus.yml")
    path = write_example("gpus", ["1"], parameters='gpu_partition = "gpu"\nbatch_partition = "batch"')

    example = load_example(path, site)
    assert example.parameter_names == ("batch_partition",)
    assert example.missing_parameters == ("gpu_partition",)
    jobs, skipped = plan_jobs([example], {})
    assert not jobs
    assert skipped[0].reason == "the site profile gives no value for gpu_partition"


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        ({"audience": "wizard"}, "metadata.handbook.audience", "novice"),
        ({"timeout": "soon"}, "metadata.handbook.timeout", "integer"),
        ({"kernels": ["no-such-kernel"]}, "metadata.handbook.kernels[0]", "unknown kernel 'no-such-kernel'"),
        ({"kernels": ["language:fortran"]}, "metadata.handbook.kernels[0]", "no kernel of language"),
        ({"kernels": ["role:wizard"]}, "metadata.handbook.kernels[0]", "unknown kernel role 'wizard'"),
        (
            {"runs_on": {"partition": "role:gpu"}},
            "metadata.handbook.runs_on.partition",
            "unknown partition role 'role:gpu'",
        ),
        ({"requires": ["quantum"]}, "metadata.handbook.requires.0", "slurm"),
        (
            {"runs_on": {"partition": "nowhere"}},
            "metadata.handbook.runs_on.partition",
            "unknown partition 'nowhere'",
        ),
        (
            {"runs_on": {"partition": "largemem"}},
            "metadata.handbook.runs_on.partition",
            "not reachable from Jupyter",
        ),
        ({"colour": "blue"}, "metadata.handbook.colour", "extra"),
    ],
)
def test_bad_metadata_names_the_file_and_field(write_example, profile, change, field, expected):
    path = write_example("bad", ["1"], **change)
    with pytest.raises(HandbookInputError) as caught:
        load_example(path, profile)
    assert caught.value.file == str(path)
    assert caught.value.where == field
    assert expected in caught.value.problem


def test_missing_owner_is_reported(write_example, profile):
    path = write_example("no-owner", ["1"])
    notebook = json.loads(path.read_text())
    del notebook["metadata"]["handbook"]["owner"]
    path.write_text(json.dumps(notebook))
    with pytest.raises(HandbookInputError, match="required field is missing") as caught:
        load_example(path, profile)
    assert caught.value.where == "metadata.handbook.owner"


def test_unknown_site_parameter_is_reported(write_example, profile):
    path = write_example("bad-param", ["1"], parameters='favourite_colour = "red"')
    with pytest.raises(HandbookInputError, match="unknown site parameter 'favourite_colour'") as caught:
        load_example(path, profile)
    assert caught.value.where == "cell 1 (parameters)"


def test_missing_parameters_cell_is_reported(write_example, profile):
    path = write_example("no-params", ["1"])
    notebook = json.loads(path.read_text())
    notebook["cells"][1]["metadata"]["tags"] = []
    path.write_text(json.dumps(notebook))
    with pytest.raises(HandbookInputError, match="exactly one cell tagged 'parameters'"):
        load_example(path, profile)


def test_malformed_notebook_is_reported(examples_dir, profile):
    path = examples_dir / "broken.ipynb"
    path.write_text("{ not json")
    with pytest.raises(HandbookInputError, match=r"expected a valid \.ipynb notebook"):
        load_example(path, profile)


def test_cli_exits_2_on_bad_metadata_and_writes_no_report(write_example, examples_dir, tmp_path, capsys):
    write_example("bad", ["1"], kernels=["no-such-kernel"])
    report_dir = tmp_path / "reports"
    code = main(
        [
            "examples",
            "--examples-dir",
            str(examples_dir),
            "--report-dir",
            str(report_dir),
            "--site",
            str(REPO / "site.yml"),
        ]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert "bad.ipynb at metadata.handbook.kernels[0]: unknown kernel 'no-such-kernel'" in error
    assert not report_dir.exists()
