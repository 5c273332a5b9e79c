"""The CI templates a centre copies: they parse, run nox sessions that exist, and publish the real reports."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from hpc_handbook.cli import build_parser
from hpc_handbook.doc_ci.report import write_reports
from hpc_handbook.doc_ci.run.execute import JobResult
from hpc_handbook.profile import load_profile

REPO = Path(__file__).resolve().parents[2]
GITLAB = REPO / "ci-templates" / "gitlab" / ".gitlab-ci.yml"
GITHUB = REPO / "ci-templates" / "github" / "doc-ci.yml"
NOX = re.compile(r"(?:\.venv/bin/)?nox -s (?P<session>[\w-]+)(?: -- (?P<args>.*))?")


def nox_sessions() -> set[str]:
    """The sessions noxfile.py declares: each decorated function, by its name= or its own name."""
    names = set()
    for node in ast.parse((REPO / "noxfile.py").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", "") == "shared_session":
                    given = [k.value for k in decorator.keywords if k.arg == "name"]
                    names.add(given[0].value if given and isinstance(given[0], ast.Constant) else node.name)
    return names


def nox_commands(lines: list[str]) -> list[tuple[str, list[str]]]:
    found = []
    for line in lines:
        for match in NOX.finditer(" ".join(line.split())):
            # A CI variable stands for a value; `${X:+--flag $X}` for the flag with a value.
            args = re.sub(r"\$\{\w+:\+(--[\w-]+) \$\w+\}", r"\1 admins@example.org", match["args"] or "")
            args = re.sub(r"\$\{?\w+\}?", "VALUE", args)
            found.append((match["session"], shlex.split(args)))
    return found


def examples_paths(args: list[str], scratch: Path) -> dict[str, str]:
    """Where `hpc-handbook examples` with these arguments writes its reports and notify state."""
    parsed = build_parser().parse_args(["examples", *args])
    directory = Path(parsed.report_dir)
    reports = write_reports(
        [JobResult(example="x", kernel="python3", status="passed")],
        profile=load_profile(REPO / "site.yml"),
        directory=scratch / directory,
    )
    paths = {kind: str(directory / path.name) for kind, path in reports.items()}
    paths["notify_state"] = parsed.notify_state
    return paths


def script_lines(job: dict[str, Any], default: dict[str, Any]) -> list[str]:
    return [*default.get("before_script", []), *job.get("script", [])]


def test_the_gitlab_template_runs_the_doc_ci_and_publishes_its_reports_and_the_book(tmp_path: Path) -> None:
    pipeline = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))
    default = pipeline.get("default", {})
    jobs = {name: job for name, job in pipeline.items() if isinstance(job, dict) and "script" in job}
    assert set(jobs) == {"doc-ci", "pages", *MERGE_REQUEST_JOBS}
    assert "login-node" in default["tags"]
    assert {rule["if"] for rule in pipeline["workflow"]["rules"]} >= {'$CI_PIPELINE_SOURCE == "schedule"'}
    sessions = nox_sessions()
    commands = {name: nox_commands(script_lines(job, default)) for name, job in jobs.items()}
    assert all(session in sessions for cmds in commands.values() for session, _ in cmds), commands
    ((session, args),) = commands["doc-ci"]
    assert session == "examples"
    paths = examples_paths(args, tmp_path)
    doc_ci = jobs["doc-ci"]
    assert doc_ci["artifacts"]["when"] == "always"
    assert doc_ci["artifacts"]["reports"]["junit"] == paths["junit"]
    assert {paths["junit"], paths["markdown"], paths["json"]} <= set(doc_ci["artifacts"]["paths"])
    assert doc_ci["cache"]["paths"] == [paths["notify_state"]] and doc_ci["cache"]["when"] == "always"
    pages = jobs["pages"]
    assert [s for s, _ in commands["pages"]] == ["book"]
    assert pages["when"] == "always" and pages["artifacts"]["paths"] == ["public"]
    assert pipeline["stages"].index(doc_ci["stage"]) < pipeline["stages"].index(pages["stage"])
    # The nightly jobs stay out of a merge request's pipeline.
    assert all("merge_request_event" not in rule["if"] for job in (doc_ci, pages) for rule in job["rules"])


MERGE_REQUEST_JOBS = {"preview", "prose", "doc-ci-changed"}


def test_the_gitlab_template_checks_a_merge_request_and_tells_the_contributor(tmp_path: Path) -> None:
    pipeline = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))
    default = pipeline.get("default", {})
    assert '$CI_PIPELINE_SOURCE == "merge_request_event"' in {r["if"] for r in pipeline["workflow"]["rules"]}
    jobs = {name: pipeline[name] for name in MERGE_REQUEST_JOBS}
    for job in jobs.values():
        assert all("merge_request_event" in rule["if"] for rule in job["rules"])
    commands = {name: nox_commands(script_lines(job, default)) for name, job in jobs.items()}
    assert [s for s, _ in commands["preview"]] == ["preview"]
    assert build_parser().parse_args(["preview", *commands["preview"][0][1]]).changed_since == "VALUE"
    assert jobs["preview"]["artifacts"]["expose_as"] and len(jobs["preview"]["artifacts"]["paths"]) == 1
    ((session, args),) = commands["prose"]
    junit = build_parser().parse_args(["prose", *args]).junit_path
    assert session == "prose" and jobs["prose"]["artifacts"]["reports"]["junit"] == junit
    ((session, args),) = commands["doc-ci-changed"]
    parsed = build_parser().parse_args(["examples", *args])
    assert session == "examples" and parsed.changed_since == "VALUE"
    # No alerts for a merge request: no address, no webhook, and a notify state of its own.
    assert (
        parsed.notify_email is None and jobs["doc-ci-changed"]["variables"]["HANDBOOK_NOTIFY_WEBHOOK"] == ""
    )
    assert parsed.notify_state != examples_paths([], tmp_path)["notify_state"]
    assert jobs["doc-ci-changed"]["artifacts"]["reports"]["junit"] == examples_paths(args, tmp_path)["junit"]
    # Its verdict comes even when the page checks fail; a fork's run waits for a maintainer.
    assert jobs["doc-ci-changed"]["needs"] == []
    fork_rule = jobs["doc-ci-changed"]["rules"][-1]
    assert fork_rule["when"] == "manual" and "SOURCE_PROJECT_ID" in jobs["doc-ci-changed"]["rules"][0]["if"]


def test_the_github_workflow_does_the_same_on_a_self_hosted_runner(tmp_path: Path) -> None:
    workflow = yaml.safe_load(GITHUB.read_text(encoding="utf-8"))
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["schedule"] and "workflow_dispatch" in triggers
    jobs = workflow["jobs"]
    nightly = {name: job for name, job in jobs.items() if not name.startswith("pull-request")}
    assert all("self-hosted" in job["runs-on"] for job in nightly.values() if "runs-on" in job)
    assert all("github.event_name != 'pull_request'" in job["if"] for job in (jobs["doc-ci"], jobs["book"]))
    sessions = nox_sessions()
    steps = jobs["doc-ci"]["steps"]
    commands = nox_commands([step["run"] for step in steps if "run" in step])
    ((session, args),) = [c for c in commands if c[0] == "examples"]
    assert session in sessions
    paths = examples_paths(args, tmp_path)
    uses = {step["uses"].split("@")[0]: step for step in steps if "uses" in step}
    assert uses["actions/cache/restore"]["with"]["path"] == paths["notify_state"]
    assert uses["actions/cache/save"]["with"]["path"] == paths["notify_state"]
    assert uses["actions/cache/save"]["if"] == "always()"
    uploaded = uses["actions/upload-artifact"]
    assert uploaded["if"] == "always()"
    assert {paths["junit"], paths["markdown"], paths["json"]} <= set(uploaded["with"]["path"].split())
    book = jobs["book"]
    assert book["needs"] == "doc-ci" and book["if"].startswith("always()")
    book_commands = nox_commands([step["run"] for step in book["steps"] if "run" in step])
    assert [s for s, _ in book_commands] == ["book"] and all(s in sessions for s, _ in book_commands)
    downloaded = next(s for s in book["steps"] if s.get("uses", "").startswith("actions/download-artifact"))
    assert downloaded["with"]["name"] == uploaded["with"]["name"]
    assert downloaded["with"]["path"] == str(Path(paths["json"]).parent)
    # Secrets come from the CI system, never from the file.
    run_step = next(s for s in steps if "nox -s examples" in s.get("run", ""))
    assert all(str(v).startswith("${{") for v in run_step["env"].values())


def test_the_github_workflow_checks_a_pull_request_without_secrets_for_forks() -> None:
    workflow = yaml.safe_load(GITHUB.read_text(encoding="utf-8"))
    triggers = workflow.get("on", workflow.get(True))
    assert "pull_request" in triggers and "pull_request_target" not in triggers
    pages, examples = workflow["jobs"]["pull-request-pages"], workflow["jobs"]["pull-request-examples"]
    # The book and the prose check need no site: a hosted runner, and no secret anywhere.
    assert pages["runs-on"] == "ubuntu-latest" and "secrets." not in yaml.safe_dump(pages)
    sessions = [s for s, _ in nox_commands([step["run"] for step in pages["steps"] if "run" in step])]
    assert sessions == ["preview", "prose"]
    # The site job runs only for the repository's own branches, never a fork's, and alerts nobody.
    assert "head.repo.full_name == github.repository" in examples["if"]
    assert "self-hosted" in examples["runs-on"] and "secrets." not in yaml.safe_dump(examples)
    ((session, args),) = nox_commands([step["run"] for step in examples["steps"] if "run" in step])
    parsed = build_parser().parse_args(["examples", *args])
    assert session == "examples" and parsed.changed_since == "origin/${{ github.base_ref }}"
    assert parsed.notify_email is None
