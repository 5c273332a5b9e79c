"""Fixtures for the doc CI tests: small examples written into tmp_path, run on the real site."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

from hpc_handbook.doc_ci.run.execute import RUN_ID_ENV
from hpc_handbook.processes import processes_tagged
from hpc_handbook.profile import Profile, load_profile

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def profile() -> Profile:
    return load_profile(REPO / "site.yml")


@pytest.fixture
def examples_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "examples"
    directory.mkdir()
    shutil.copy(REPO / "examples" / "sanitize.cfg", directory / "sanitize.cfg")
    return directory


WriteExample = Callable[..., Path]


@pytest.fixture
def write_example(examples_dir: Path) -> WriteExample:
    """Write a notebook that follows the example contract; cells are (source, tags) or sources."""

    def write(
        name: str,
        cells: list[Any],
        *,
        kernel: str = "python3",
        language: str = "python",
        parameters: str = 'site_short_name = "XX"',
        **meta: Any,
    ) -> Path:
        notebook = nbformat.v4.new_notebook()
        notebook.metadata = {
            "kernelspec": {"name": kernel, "display_name": kernel, "language": language},
            "handbook": {
                "audience": "expert",
                "kernels": [kernel],
                "runs_on": "login",
                "requires": [],
                "timeout": 60,
                "owner": "test-team",
                **meta,
            },
        }
        notebook.cells.append(nbformat.v4.new_markdown_cell(f"# {name}"))
        parameter_cell = nbformat.v4.new_code_cell(parameters)
        parameter_cell.metadata["tags"] = ["parameters"]
        notebook.cells.append(parameter_cell)
        for cell in cells:
            source, tags = (cell, []) if isinstance(cell, str) else cell
            code = nbformat.v4.new_code_cell(source)
            if tags:
                code.metadata["tags"] = list(tags)
            notebook.cells.append(code)
        path = examples_dir / f"{name}.ipynb"
        nbformat.write(notebook, path)
        return path

    return write


def doc_ci_jobs() -> list[str]:
    """Slurm jobs a doc-CI run caused (their comment carries the run id)."""
    listing = subprocess.run(
        ["squeue", "--noheader", "--format=%i %j %k"], capture_output=True, text=True, check=True
    )
    return [line for line in listing.stdout.splitlines() if " handbook-ci:" in line]


def doc_ci_processes() -> list[int]:
    """Processes a doc-CI run started (kernels, and kernels inside jobs, carry the run id)."""
    return processes_tagged(RUN_ID_ENV, lambda run_id: True)


def wait_until_gone(check: Callable[[], list], seconds: float = 20) -> list:
    """Slurm and the kernel's process tree take a moment to end; poll instead of sleeping blindly."""
    deadline = time.monotonic() + seconds
    left = check()
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = check()
    return left


def interrupt_and_expect_nothing_left(runner: subprocess.Popen, *, timeout: float) -> None:
    """Ctrl-C the runner as a user would, then check that no job or kernel of any run is left."""
    try:
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=timeout)
    finally:
        runner.kill()
    assert not wait_until_gone(doc_ci_jobs), f"jobs left: {doc_ci_jobs()}"
    assert not wait_until_gone(doc_ci_processes), f"kernels left: {doc_ci_processes()}"


@pytest.fixture
def leaves_nothing_behind():
    """Fail the test if a doc-CI run left a Slurm job or a kernel process behind."""
    yield
    assert not wait_until_gone(doc_ci_jobs, 5), f"Slurm jobs left behind: {doc_ci_jobs()}"
    assert not wait_until_gone(doc_ci_processes, 5), f"kernel processes left behind: {doc_ci_processes()}"
