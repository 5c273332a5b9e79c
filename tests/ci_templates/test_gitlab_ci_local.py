"""The GitLab template as gitlab-ci-local reads it, and its doc-CI job run green on the reference site."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from hpc_handbook.profile import load_profile

from .conftest import GITLAB_TEMPLATE, REPO, run_gitlab_ci_local


@pytest.mark.npm
@pytest.mark.slow
def test_gitlab_ci_local_reads_the_template_and_its_nightly_jobs(
    gitlab_ci_local: Path, repo_copy: Path
) -> None:
    listed = run_gitlab_ci_local(gitlab_ci_local, repo_copy, "--list-json", timeout=120)
    assert listed.returncode == 0, listed.stderr
    # Warnings about the copy's missing remote come first; the listing is the last lines.
    lines = listed.stdout.splitlines()
    jobs = {job["name"]: job for job in json.loads("\n".join(lines[lines.index("[") :]))}
    # The merge-request jobs are listed too, but their rules keep them out of a schedule's pipeline.
    assert {"doc-ci", "pages"} <= set(jobs)
    for name in ("preview", "prose", "doc-ci-changed"):
        assert all("merge_request_event" in rule["if"] for rule in jobs[name]["rules"])
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


GIT = ["git", "-c", "user.name=contributor", "-c", "user.email=contributor@example.org"]
EXAMPLE = "start-first-notebook"
PAGE = "book/start/files.md"


def open_merge_request(copy: Path, *, break_example: bool) -> str:
    """Commit a contributor's change on a branch of the copy; return the target's commit.

    The change edits one example and one page. Broken, the example's code prints something
    its reference outputs do not have, and the page names a partition the site lacks.
    """
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=copy, capture_output=True, text=True).stdout
    subprocess.run([*GIT, "checkout", "-q", "-b", "change"], cwd=copy, check=True)
    path = copy / "examples" / f"{EXAMPLE}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[0].source += "\nA sentence a contributor added.\n"
    if break_example:
        notebook.cells[3].source += '\nprint("a line the reference outputs do not have")'
    nbformat.write(notebook, path)
    page = copy / PAGE
    added = "\nUse the fancy partition for large files.\n" if break_example else "\nA clearer sentence.\n"
    page.write_text(page.read_text(encoding="utf-8") + added, encoding="utf-8")
    subprocess.run([*GIT, "commit", "-q", "-am", "contribution"], cwd=copy, check=True)
    return base.strip()


def run_merge_request_pipeline(command: Path, copy: Path, base: str) -> subprocess.CompletedProcess[str]:
    """The template's merge-request pipeline, as GitLab starts it for a branch of the project."""
    variables = {
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": base,
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "7",
        "CI_PROJECT_ID": "7",
    }
    return subprocess.run(
        [
            str(command), "--file", str(GITLAB_TEMPLATE), "--home", str(copy / ".gitlab-ci-local-home"),
            "--ignore-predefined-vars", ",".join(variables), "--no-color",
            # One runner on the login node runs one job at a time, in one clone.
            "--concurrency=1",
            *(f"--variable={name}={value}" for name, value in variables.items()),
        ],
        cwd=copy, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip


@pytest.mark.npm
@pytest.mark.site
@pytest.mark.slurm
@pytest.mark.slow
def test_a_merge_request_runs_only_what_it_touches_and_shows_why(
    gitlab_ci_local: Path, repo_copy: Path
) -> None:
    base = open_merge_request(repo_copy, break_example=False)
    ran = run_merge_request_pipeline(gitlab_ci_local, repo_copy, base)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    assert f"picked: {EXAMPLE} (the example changed)" in ran.stdout
    artifacts = repo_copy / ".gitlab-ci-local" / "artifacts"
    report = (artifacts / "doc-ci-changed" / "_build" / "reports" / "examples.md").read_text(encoding="utf-8")
    assert "## Picked for this change" in report and f"**{EXAMPLE}**: the example changed" in report
    suite = ET.parse(artifacts / "doc-ci-changed" / "_build" / "reports" / "examples.xml").getroot()
    ran_examples = {case.get("classname") for case in suite.iter("testcase")}
    assert ran_examples == {f"examples.{EXAMPLE}"} and suite.get("failures") == "0"
    preview = artifacts / "preview" / "_build" / "preview" / "_build" / "html"
    changed = (preview / "changed.html").read_text(encoding="utf-8")
    assert f'href="{PAGE[:-3]}.html"' in changed and f'href="examples/{EXAMPLE}.html"' in changed
    assert (preview / "book" / "start" / "files.html").is_file()


@pytest.mark.npm
@pytest.mark.site
@pytest.mark.slurm
@pytest.mark.slow
def test_a_broken_merge_request_fails_naming_the_example_and_the_page(
    gitlab_ci_local: Path, repo_copy: Path
) -> None:
    base = open_merge_request(repo_copy, break_example=True)
    ran = run_merge_request_pipeline(gitlab_ci_local, repo_copy, base)
    assert ran.returncode != 0
    artifacts = repo_copy / ".gitlab-ci-local" / "artifacts"
    examples = ET.parse(artifacts / "doc-ci-changed" / "_build" / "reports" / "examples.xml").getroot()
    failures = [
        (case.get("classname"), case.get("name"))
        for case in examples.iter("testcase")
        if case.find("failure") is not None
    ]
    # A novice example runs, and here fails, in every JupyterLab environment the form offers.
    offered = load_profile(REPO / "site.yml").jupyter.available(dt.date.today())
    assert {classname for classname, _ in failures} == {f"examples.{EXAMPLE}"}
    assert len(failures) == len(offered), failures
    prose = ET.parse(artifacts / "prose" / "_build" / "reports" / "prose.xml").getroot()
    [page] = [case for case in prose.iter("testcase") if case.find("failure") is not None]
    failure = page.find("failure")
    assert failure is not None and "partition 'fancy'" in (failure.text or "")
    assert page.get("classname") == "examples.files.md" and "line" in (failure.text or "")
