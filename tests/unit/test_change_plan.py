"""What a merge request runs: the examples its change touches, each with why, and the changed pages."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml

from hpc_handbook.data.snapshot import load_snapshot
from hpc_handbook.doc_ci.plan.change import plan_change
from hpc_handbook.profile import load_profile

REPO = Path(__file__).resolve().parents[2]
GIT = ["git", "-c", "user.name=contributor", "-c", "user.email=contributor@example.org"]


@pytest.fixture
def branch(tmp_path: Path) -> Path:
    """A copy of the handbook as a repository, on a branch `change` that starts from `main`."""
    copy = tmp_path / "handbook"
    for name in ("site.yml", "book", "examples", "changelog", "src/hpc_handbook/__init__.py"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("_build", ".*"))
        else:
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    subprocess.run([*GIT, "init", "-q", "-b", "main"], cwd=copy, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=copy, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "base"], cwd=copy, check=True)
    subprocess.run([*GIT, "checkout", "-q", "-b", "change"], cwd=copy, check=True)
    return copy


def commit(root: Path, message: str) -> None:
    subprocess.run([*GIT, "commit", "-q", "-am", message], cwd=root, check=True)


def plan(root: Path):
    profile = load_profile(root / "site.yml")
    return plan_change(root, "main", profile, load_snapshot(root / "book" / "data" / "snapshot.json"))


def test_an_untouched_branch_runs_nothing(branch: Path) -> None:
    result = plan(branch)
    assert result.picks == [] and result.shared == []
    assert result.lines() == ["no example is touched by the changes since main"]


def test_a_changed_example_and_a_changed_page_are_picked_and_listed(branch: Path) -> None:
    path = branch / "examples" / "start-first-notebook.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[0].source += "\nOne more sentence.\n"
    nbformat.write(notebook, path)
    page = branch / "book" / "start" / "files.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nAnother sentence.\n", encoding="utf-8")
    commit(branch, "edit")
    result = plan(branch)
    assert [(p.example, p.why) for p in result.picks] == [("start-first-notebook", "the example changed")]
    assert result.changed_pages == ["book/start/files.md", "examples/start-first-notebook.ipynb"]
    assert result.lines() == ["picked: start-first-notebook (the example changed)"]


def test_a_profile_change_picks_the_examples_that_depend_on_it(branch: Path) -> None:
    profile = yaml.safe_load((branch / "site.yml").read_text(encoding="utf-8"))
    batch = next(p for s in profile["systems"] for p in s["partitions"] if p["name"] == "batch")
    batch["limits"]["max_walltime"] = "12:00:00"
    (branch / "site.yml").write_text(yaml.safe_dump(profile, sort_keys=False), encoding="utf-8")
    commit(branch, "shorter batch jobs")
    result = plan(branch)
    why = {p.example: p.why for p in result.picks}
    # Examples placed on the batch partition, or on a kernel that runs there.
    assert why["recipe-optimized-libraries"] == "its partition batch changed in site.yml"
    assert (
        why["operate-kernel-smoke-test"] == "its kernel python3-batch runs on partition batch, which changed"
    )
    assert "start-first-notebook" not in why
    # Pages stating the batch partition's walltime render differently, so they are in the preview's list.
    assert "book/start/log-in.md" in result.changed_pages


def test_a_changed_parameter_picks_the_examples_that_take_it(branch: Path) -> None:
    profile = yaml.safe_load((branch / "site.yml").read_text(encoding="utf-8"))
    profile["site"]["short_name"] = "RCX"
    (branch / "site.yml").write_text(yaml.safe_dump(profile, sort_keys=False), encoding="utf-8")
    commit(branch, "renamed")
    why = {p.example: p.why for p in plan(branch).picks}
    assert why["start-first-notebook"] == "its parameter site_short_name changed in site.yml"


def test_shared_machinery_runs_everything_after_the_picks(branch: Path) -> None:
    init = branch / "src" / "hpc_handbook" / "__init__.py"
    init.write_text(init.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    commit(branch, "tooling")
    result = plan(branch)
    assert result.shared == ["src/hpc_handbook/__init__.py"]
    assert result.lines()[-1].startswith("then: every other example, because shared machinery changed")
