"""The example contract: bad metadata gets a clear error naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpc_handbook.cli import main
from hpc_handbook.doc_ci.contract import discover_examples, load_example, site_parameters
from hpc_handbook.errors import HandbookInputError

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


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        ({"audience": "wizard"}, "metadata.handbook.audience", "novice"),
        ({"timeout": "soon"}, "metadata.handbook.timeout", "integer"),
        ({"kernels": ["no-such-kernel"]}, "metadata.handbook.kernels[0]", "unknown kernel 'no-such-kernel'"),
        ({"kernels": ["language:fortran"]}, "metadata.handbook.kernels[0]", "no kernel of language"),
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
