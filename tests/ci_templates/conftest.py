"""gitlab-ci-local, installed from npm into the project's own folder, and a repository copy to run it in."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: The last 4.x that runs on Debian 12's Node.js 18 (later ones need Node.js 22).
GITLAB_CI_LOCAL = "4.64.1"
#: Beside the shared environments: ignored by git, kept between test sessions.
PREFIX = REPO / ".nox" / "gitlab-ci-local"
GITLAB_TEMPLATE = Path("ci-templates/gitlab/.gitlab-ci.yml")


@pytest.fixture(scope="session")
def gitlab_ci_local() -> Path:
    """The gitlab-ci-local command, installed with npm at the pinned version unless it already is."""
    command = PREFIX / "node_modules" / ".bin" / "gitlab-ci-local"
    package = PREFIX / "node_modules" / "gitlab-ci-local" / "package.json"
    installed = json.loads(package.read_text(encoding="utf-8"))["version"] if package.is_file() else None
    if shutil.which("rsync") is None:
        pytest.fail("gitlab-ci-local copies the project with rsync: apt-get install rsync", pytrace=False)
    if installed != GITLAB_CI_LOCAL:
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to install gitlab-ci-local: apt-get install npm", pytrace=False)
        subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(PREFIX),
                "--no-audit",
                "--no-fund",
                f"gitlab-ci-local@{GITLAB_CI_LOCAL}",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    return command


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The working tree's files (tracked, and new ones git does not ignore) in a repository of their own."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    )
    copy = tmp_path / "handbook"
    for name in filter(None, listing.stdout.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git = ["git", "-c", "user.name=doc-ci", "-c", "user.email=doc-ci@example.org"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=copy, check=True)
    subprocess.run([*git, "add", "-A"], cwd=copy, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "copy"], cwd=copy, check=True)
    return copy


def run_gitlab_ci_local(
    command: Path, copy: Path, *args: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run gitlab-ci-local on the template, as a schedule would, with its state inside the copy."""
    return subprocess.run(
        [
            str(command),
            "--file", str(GITLAB_TEMPLATE),
            "--home", str(copy / ".gitlab-ci-local-home"),
            "--variable", "CI_PIPELINE_SOURCE=schedule",
            "--no-color",
            *args,
        ],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=timeout,
    )  # fmt: skip
