"""A kernel that finds one of its ports taken gets new ports once; a second loss fails the example.

jupyter_client picks free ports and hands them to the kernel, which binds them a moment later;
any process on the machine can take one in between. Here a launcher takes the kernel's shell
port itself, holds it (listening) and then becomes the kernel, which really cannot bind it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

from hpc_handbook.doc_ci.run.kernel import KERNEL_START_ATTEMPTS
from hpc_handbook.examples.contract import load_example
from hpc_handbook.examples.sanitize import Sanitizer
from hpc_handbook.profile import Profile

from .local_kernel import run_locally

LAUNCHER = """\
import json, os, socket, sys
from pathlib import Path

starts, losses, connection_file = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
started = int(starts.read_text()) if starts.exists() else 0
starts.write_text(str(started + 1))
if started < losses:
    info = json.loads(Path(connection_file).read_text())
    holder = socket.socket()
    holder.bind((info["ip"], info["shell_port"]))
    holder.listen()
    os.set_inheritable(holder.fileno(), True)  # the kernel below still finds the port taken
argv = [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file]
os.execv(sys.executable, argv)
"""


def run_with_lost_ports(tmp_path: Path, profile: Profile, losses: int) -> tuple[str, str, int]:
    launcher = tmp_path / "launcher.py"
    launcher.write_text(LAUNCHER)
    starts = tmp_path / "starts"
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["handbook"] = {
        "audience": "novice",
        "kernels": ["python3"],
        "requires": [],
        "timeout": 60,
        "owner": "docs-team",
    }
    parameters = nbformat.v4.new_code_cell('site_short_name = "XX"')
    parameters.metadata["tags"] = ["parameters"]
    parameters.execution_count = 1
    greeting = nbformat.v4.new_code_cell("print('hi')")
    greeting.execution_count = 2
    greeting.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    notebook.cells = [parameters, greeting]
    path = tmp_path / "ports.ipynb"
    nbformat.write(notebook, path)
    argv = [sys.executable, str(launcher), str(starts), str(losses), "{connection_file}"]
    [result] = run_locally(
        [(load_example(path, profile), Sanitizer(()))],
        tmp_path,
        parameters={"site_short_name": "XX"},
        kernel_argv=argv,
    )
    return result.status, result.reason, int(starts.read_text())


def test_a_kernel_that_lost_a_port_is_started_again_with_new_ports(tmp_path: Path, profile: Profile) -> None:
    status, reason, starts = run_with_lost_ports(tmp_path, profile, losses=1)
    assert (status, reason) == ("passed", "")
    assert starts == 2


@pytest.mark.parametrize("losses", [KERNEL_START_ATTEMPTS])
def test_a_kernel_that_keeps_losing_its_ports_fails_with_the_reason(
    tmp_path: Path, profile: Profile, losses: int
) -> None:
    status, reason, starts = run_with_lost_ports(tmp_path, profile, losses=losses)
    assert status == "failed"
    assert "failed to start" in reason and "Address already in use" in reason
    assert starts == KERNEL_START_ATTEMPTS
