"""Output comparison follows nbval's semantics and explains a mismatch as a diff."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from hpc_handbook.doc_ci.compare import cell_options, compare_cell, sanitize_outputs
from hpc_handbook.examples.sanitize import Sanitizer, load_sanitizer

REPO = Path(__file__).resolve().parents[2]
NO_RULES = Sanitizer(())


def stream(text: str, name: str = "stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def result(text: str, count: int = 1):
    return nbformat.v4.new_output("execute_result", data={"text/plain": text}, execution_count=count)


def test_split_streams_equal_one_stream():
    assert compare_cell(0, [stream("a\nb\n")], [stream("a\n"), stream("b\n")], sanitize=NO_RULES) is None


def test_execution_counts_and_order_of_different_types_do_not_matter():
    reference = [stream("hi\n"), result("5", count=3)]
    actual = [result("5", count=9), stream("hi\n")]
    assert compare_cell(0, reference, actual, sanitize=NO_RULES) is None


def test_changed_value_gives_a_readable_diff():
    mismatch = compare_cell(4, [stream("numpy 1.26.4\n")], [stream("numpy 2.1.0\n")], sanitize=NO_RULES)
    assert mismatch is not None
    assert mismatch.cell_index == 4
    assert "stream:stdout differs" in mismatch.summary
    assert "-numpy 1.26.4" in mismatch.diff and "+numpy 2.1.0" in mismatch.diff


def test_missing_output_is_named():
    mismatch = compare_cell(1, [stream("x\n"), result("1")], [stream("x\n")], sanitize=NO_RULES)
    assert mismatch is not None and mismatch.summary == "missing output text/plain"


def test_sanitize_rules_cover_volatile_values():
    sanitize = load_sanitizer(REPO / "examples" / "sanitize.cfg")
    text = "Submitted batch job 4711 at 2026-11-25T10:00:01 took 3.2 s token=abc123"
    assert sanitize(text) == "Submitted batch job <jobid> at <datetime> took <duration> token=<token>"


@pytest.mark.parametrize("job_id", ["1", "7", "42", "123456"])
def test_job_ids_are_hidden_whatever_their_width(job_id):
    # A new site's first jobs are 1, 2, 3: an id of one digit must not reach the comparison.
    sanitize = load_sanitizer(REPO / "examples" / "sanitize.cfg")
    text = f"Submitted batch job {job_id}\nbatch: job {job_id}, CPUs: 1\nsrun: job {job_id} queued"
    assert (
        sanitize(text) == "Submitted batch job <jobid>\nbatch: job <jobid>, CPUs: 1\nsrun: job <jobid> queued"
    )


def test_kernel_homes_are_hidden(monkeypatch):
    monkeypatch.setenv("USER", "alice")
    sanitize = load_sanitizer(REPO / "examples" / "sanitize.cfg", homes=["/tmp/hb-home-abc123"])
    assert sanitize("/tmp/hb-home-abc123/.local/lib") == "<home>/.local/lib"


def test_sanitize_hides_this_machine(monkeypatch):
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: "node-a17.cluster")
    monkeypatch.setattr(socket, "getfqdn", lambda: "node-a17.cluster.example.org")
    monkeypatch.setenv("USER", "alice")
    sanitize = load_sanitizer(REPO / "examples" / "sanitize.cfg", workdirs=["/tmp/handbook-run-xyz"])
    text = "alice on node-a17 in /tmp/handbook-run-xyz/ex"
    assert sanitize(text) == "<user> on <host> in <workdir>/ex"


def test_refresh_sanitizes_every_text_field(monkeypatch):
    monkeypatch.setenv("USER", "alice")
    sanitize = load_sanitizer(REPO / "examples" / "sanitize.cfg")
    outputs = [
        stream("hello alice\n"),
        nbformat.v4.new_output("error", ename="E", evalue="alice", traceback=["alice"]),
    ]
    cleaned = sanitize_outputs(outputs, sanitize)
    assert "alice" not in str(cleaned)


def test_cell_tags_map_to_nbval_options():
    cell = nbformat.v4.new_code_cell("1/0")
    cell.metadata["tags"] = ["raises-exception"]
    assert cell_options(cell).check_exception
    cell.metadata["tags"] = ["nbval-ignore-output"]
    assert not cell_options(cell).check
    cell.metadata["tags"] = ["nbval-skip"]
    assert cell_options(cell).skip


def test_sanitize_turns_the_profiles_folders_back_into_their_names(monkeypatch):
    monkeypatch.setenv("USER", "alice")
    sanitize = load_sanitizer(
        REPO / "examples" / "sanitize.cfg",
        filesystems={"scratch": "/scratch/$USER", "project": "/p/project/$PROJECT"},
    )
    assert (
        sanitize("cd /scratch/alice/run1 && ls /p/project/climate42/data")
        == "cd <scratch>/run1 && ls <project>/data"
    )


def test_the_accounts_the_kernels_ran_as_are_sanitized_in_full_and_as_squeue_cuts_them():
    sanitize = load_sanitizer(
        REPO / "examples" / "sanitize.cfg",
        homes=["/home/ci-account"],
        users=["ci-account"],
        filesystems={"scratch": "/scratch/$USER"},
    )
    row = "  32  batch first-jo ci-accou PD  0:00  1 (Priority)"
    assert "ci-accou" not in sanitize(row) and "<user>" in sanitize(row)
    assert sanitize("owner ci-account, files in /scratch/ci-account and /home/ci-account/x") == (
        "owner <user>, files in <scratch> and <home>/x"
    )
    assert sanitize("ci-accountant") == "ci-accountant"  # another word that starts the same
