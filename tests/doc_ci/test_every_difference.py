"""A failing example names every differing cell, the first first, in the verdict, the reports and alerts.

The example runs on a local python3 kernel with the doc CI's own executor; no site is needed.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET

import nbformat
import pytest

from hpc_handbook.data.examples_report import CellDifference
from hpc_handbook.doc_ci.notify.chat import chat_text
from hpc_handbook.doc_ci.notify.messages import failure_signature
from hpc_handbook.doc_ci.report import write_reports
from hpc_handbook.doc_ci.run.execute import JobResult
from hpc_handbook.examples.contract import load_example
from hpc_handbook.examples.sanitize import Sanitizer

from .local_kernel import run_locally

SITE = {"site_short_name": "XX"}


def recorded(notebook: nbformat.NotebookNode, index: int, text: str) -> None:
    """Give a cell the reference output `text`, as if a refresh had recorded it."""
    cell = notebook.cells[index]
    cell.execution_count = index
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory, profile) -> JobResult:
    """An example whose cells 2, 4 and 5 print something else than their reference; cell 3 does not."""
    tmp = tmp_path_factory.mktemp("drift")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["handbook"] = {
        "audience": "admin",
        "kernels": ["python3"],
        "requires": [],
        "timeout": 60,
        "owner": "ops-team",
    }
    parameters = nbformat.v4.new_code_cell('site_short_name = "XX"')
    parameters.metadata["tags"] = ["parameters"]
    parameters.execution_count = 1
    sources = ["print('quota: 5 TB')", "print('steady')", "print('numpy 2.1')", "print('gcc 13')"]
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Drift"),
        parameters,
        *(nbformat.v4.new_code_cell(source) for source in sources),
    ]
    for index, text in [(2, "quota: 10 TB\n"), (3, "steady\n"), (4, "numpy 1.26\n"), (5, "gcc 12\n")]:
        recorded(notebook, index, text)
    path = tmp / "drift.ipynb"
    nbformat.write(notebook, path)
    (result,) = run_locally([(load_example(path, profile), Sanitizer(()))], tmp, parameters=SITE)
    return result


def test_an_example_with_three_drifted_cells_reports_all_three(drifted: JobResult):
    assert drifted.status == "failed" and drifted.output_mismatch_only
    assert drifted.cell == 2
    assert drifted.differences == [
        CellDifference(cell=2, summary="output stream:stdout differs"),
        CellDifference(cell=4, summary="output stream:stdout differs"),
        CellDifference(cell=5, summary="output stream:stdout differs"),
    ]
    assert drifted.reason == (
        "cell 2: output stream:stdout differs; cell 4: output stream:stdout differs; "
        "cell 5: output stream:stdout differs"
    )
    for cell, before, after in [(2, "quota: 10 TB", "quota: 5 TB"), (4, "numpy 1.26", "numpy 2.1")]:
        assert f"--- cell {cell}, expected (reference)" in drifted.diff
        assert f"-{before}\n+{after}" in drifted.diff
    assert "+gcc 13" in drifted.diff and "steady" not in drifted.diff
    assert drifted.diff.index("cell 2,") < drifted.diff.index("cell 4,") < drifted.diff.index("cell 5,")


def test_the_reports_name_every_differing_cell(drifted: JobResult, tmp_path, profile):
    paths = write_reports([drifted], profile=profile, directory=tmp_path)
    markdown = paths["markdown"].read_text()
    assert "**drift** on kernel `python3` (cells 2, 4 and 5)" in markdown
    for cell in (2, 4, 5):
        assert f"  cell {cell}: output stream:stdout differs\n" in markdown
    assert "+gcc 13" in markdown
    failure = ET.parse(paths["junit"]).getroot().find("testcase/failure")
    assert failure is not None and "cell 5: output stream:stdout differs" in failure.get("message", "")
    data = json.loads(paths["json"].read_text())
    assert [d["cell"] for d in data["results"][0]["differences"]] == [2, 4, 5]


def test_the_alert_names_every_differing_cell(drifted: JobResult, profile):
    text = chat_text([drifted], runs=1, profile=profile, report_url="https://ci.example/r")
    assert "- `drift` on `python3`, cells 2, 4 and 5 (owner: ops-team)" in text


def test_an_alert_already_sent_for_one_cell_keeps_its_signature():
    def one(cell: int | None, **fields) -> JobResult:
        return JobResult(example="e", kernel="k", status="failed", cell=cell, **fields)

    # The signature is what the notify state remembers; before, it held the one cell.
    before = hashlib.sha256(b"e|k|2").hexdigest()[:16]
    assert failure_signature([one(2)]) == before
    assert failure_signature([one(2, differences=[CellDifference(cell=2, summary="s")])]) == before
    more = [CellDifference(cell=2, summary="s"), CellDifference(cell=4, summary="s")]
    assert failure_signature([one(2, differences=more)]) != before
