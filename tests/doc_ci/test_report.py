"""Reports name the page, the cell and the difference, grouped by owner."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from hpc_handbook.doc_ci.report import write_reports
from hpc_handbook.doc_ci.run.execute import JobResult


def test_reports_for_ci_admins_and_the_book(tmp_path, profile):
    results = [
        JobResult(
            example="first-notebook",
            kernel="python3",
            status="passed",
            page="examples/first-notebook",
            owner="docs-team",
            seconds=1.2,
        ),
        JobResult(
            example="module-kernel",
            kernel="python3-stack",
            status="failed",
            cell=3,
            page="examples/module-kernel",
            owner="software-team",
            reason="cell 3: output stream:stdout differs",
            diff="-numpy 1.26\n+numpy 2.1",
        ),
        JobResult(
            example="gpu",
            kernel="python3",
            status="skipped",
            reason="no GPU",
            page="examples/gpu",
            owner="software-team",
        ),
    ]
    paths = write_reports(results, profile=profile, directory=tmp_path)

    suite = ET.parse(paths["junit"]).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    failure = suite.find("testcase[@classname='examples.module-kernel']/failure")
    assert failure is not None and "+numpy 2.1" in failure.text

    markdown = paths["markdown"].read_text()
    assert "### software-team" in markdown
    assert "**module-kernel** on kernel `python3-stack` (cell 3)" in markdown
    assert f"{profile.site.docs_url}examples/module-kernel.html" in markdown
    assert "not verified at this site: no GPU" in markdown

    data = json.loads(paths["json"].read_text())
    assert data["site"] == profile.site.short_name
    assert data["summary"] == {"passed": 1, "failed": 1, "skipped": 1}
