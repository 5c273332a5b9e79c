"""The reference site's mirror of the handbook's repository: each change of the examples is a new
commit on top of the last, so a user's pulled copy merges it; no change, no commit."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hpc_handbook.profile import load_profile
from hpc_handbook.reference_site import examples_mirror

REPO = Path(__file__).resolve().parents[2]
PROFILE = load_profile(REPO / "site.yml")


def git(*arguments: str | Path) -> str:
    return subprocess.run(["git", *map(str, arguments)], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "handbook.git"
    monkeypatch.setattr(examples_mirror, "mirror_path", lambda profile: path)
    monkeypatch.setattr(examples_mirror, "gitconfig_path", lambda profile: tmp_path / "gitconfig")
    return path


def test_the_mirror_gets_a_commit_per_change_of_the_examples_on_top_of_the_last(
    mirror: Path, tmp_path: Path
) -> None:
    examples = tmp_path / "examples"
    shutil.copytree(REPO / "examples", examples, ignore=shutil.ignore_patterns("*.ipynb", ".*"))
    shutil.copy2(REPO / "examples" / "start-first-notebook.ipynb", examples)
    (examples / ".ipynb_checkpoints").mkdir()
    (examples / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")

    assert examples_mirror.ensure_examples_mirror(PROFILE, print, examples) is True
    assert examples_mirror.ensure_examples_mirror(PROFILE, print, examples) is False
    files = git("-C", mirror, "ls-tree", "-r", "--name-only", "main").split()
    assert "examples/start-first-notebook.ipynb" in files
    assert not [f for f in files if ".ipynb_checkpoints" in f]

    shutil.copy2(REPO / "examples" / "start-install-package.ipynb", examples)
    assert examples_mirror.ensure_examples_mirror(PROFILE, print, examples) is True
    history = git("-C", mirror, "log", "--format=%H %P", "main").splitlines()
    assert len(history) == 2 and history[0].split()[1] == history[1].split()[0]


def test_the_servers_git_reads_the_repository_address_from_the_mirror(mirror: Path, tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    examples.mkdir()
    (examples / "a.ipynb").write_text("{}")
    examples_mirror.ensure_examples_mirror(PROFILE, print, examples)
    examples_mirror.ensure_mirror_gitconfig(PROFILE)
    environment = examples_mirror.mirror_environment(PROFILE)
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", str(PROFILE.site.repository_url), str(clone)],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **environment},
        check=True,
        timeout=60,
    )
    assert (clone / "examples" / "a.ipynb").read_text() == "{}"
