"""Every committed output passes the sanitizer, the outputs the comparison ignores included.

Whatever a notebook shows is published: a job id, a date, this machine's name or a test
account's name must never be in it, whether or not the doc CI compares the cell.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import nbformat
import pytest

from hpc_handbook.profile import load_profile
from hpc_handbook.prose.outputs_check import output_texts, unsanitized_outputs

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "examples").glob("*.ipynb"))


def test_no_committed_output_is_left_for_the_sanitizer() -> None:
    assert [finding.line() for finding in unsanitized_outputs(REPO)] == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_name_no_machine_or_account(path: Path) -> None:
    setup = load_profile(REPO / "site.yml").reference_site
    assert setup is not None
    forbidden = {socket.gethostname(), *(account.name for account in setup.accounts), "/root"}
    notebook = json.loads(path.read_text(encoding="utf-8"))
    leaks = [
        (cell, name) for cell, text in output_texts(notebook) for name in sorted(forbidden) if name in text
    ]
    assert not leaks, f"machine or account names in committed outputs (cell, name): {leaks}"


def test_a_planted_job_id_in_an_ignored_cell_is_found_with_its_cell(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "sanitize.cfg", tmp_path / "examples" / "sanitize.cfg")
    planted = nbformat.v4.new_notebook()
    planted.metadata["handbook"] = {"owner": "test-team"}
    planted.cells.append(nbformat.v4.new_markdown_cell("# Planted"))
    cell = nbformat.v4.new_code_cell("squeue --me", metadata={"tags": ["nbval-ignore-output"]})
    row = "   JOBID PARTITION  NAME USER ST  TIME NODES NODELIST\n    4711     batch  x  y  R  0:01 1  n\n"
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=row)]
    planted.cells.append(cell)
    nbformat.write(planted, tmp_path / "examples" / "planted.ipynb")
    [finding] = unsanitized_outputs(tmp_path)
    assert finding.where == "examples/planted.ipynb, cell 1, output"
    assert finding.owner == "test-team" and "4711" in finding.claim
