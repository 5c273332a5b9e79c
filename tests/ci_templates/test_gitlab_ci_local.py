"""The GitLab template as gitlab-ci-local reads it, and its doc-CI job run green on the reference site."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import run_gitlab_ci_local


@pytest.mark.npm
@pytest.mark.slow
def test_gitlab_ci_local_reads_the_template_as_two_jobs(gitlab_ci_local: Path, repo_copy: Path) -> None:
    listed = run_gitlab_ci_local(gitlab_ci_local, repo_copy, "--list-json", timeout=120)
    assert listed.returncode == 0, listed.stderr
    # Warnings about the copy's missing remote come first; the listing is the last lines.
    lines = listed.stdout.splitlines()
    jobs = {job["name"]: job for job in json.loads("\n".join(lines[lines.index("[") :]))}
    assert set(jobs) == {"doc-ci", "pages"}
    assert jobs["pages"]["when"] == "always" and [n["job"] for n in jobs["pages"]["needs"]] == ["doc-ci"]
    preview = run_gitlab_ci_local(gitlab_ci_local, repo_copy, "--preview", timeout=120)
    assert preview.returncode == 0, preview.stderr
    assert "nox -s examples --" in preview.stdout


@pytest.mark.npm
@pytest.mark.site
@pytest.mark.slurm
@pytest.mark.slow
def test_the_doc_ci_job_runs_green_on_the_reference_site(gitlab_ci_local: Path, repo_copy: Path) -> None:
    """What a centre's nightly pipeline does, on the reference site: `nox -s examples` via the template."""
    ran = run_gitlab_ci_local(gitlab_ci_local, repo_copy, "doc-ci", timeout=3600)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    reports = repo_copy / ".gitlab-ci-local" / "artifacts" / "doc-ci" / "_build" / "reports"
    suite = ET.parse(reports / "examples.xml").getroot()
    assert int(suite.get("tests", "0")) > 0 and suite.get("failures") == "0"
    assert (reports / "examples.md").read_text(encoding="utf-8").startswith("# Doc CI report for ")
