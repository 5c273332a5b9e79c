"""`--dispatch slurm` on the real site: worker jobs on the batch nodes, verdicts back, nothing left."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hpc_handbook.doc_ci.dispatch.jobs import WORKER_JOB_NAME, DispatchSetup, dispatch_targets
from hpc_handbook.doc_ci.run.runner import run_examples
from hpc_handbook.errors import HandbookInputError

from .conftest import REPO, doc_ci_jobs, doc_ci_processes, interrupt_and_expect_nothing_left, wait_until_gone

pytestmark = [pytest.mark.site, pytest.mark.usefixtures("leaves_nothing_behind")]


def _setup(profile, tmp_path: Path, nodes: int, workers_per_node: int = 2) -> DispatchSetup:
    return DispatchSetup(
        targets=dispatch_targets(profile, nodes, profile_file="site.yml"),
        workers_per_node=workers_per_node,
        walltime="00:10:00",
        run_root=tmp_path / "dispatch",
    )


def _worker_jobs() -> list[str]:
    listing = subprocess.run(
        ["squeue", "--noheader", f"--name={WORKER_JOB_NAME}", "--states=R", "--format=%i"],
        capture_output=True,
        text=True,
        check=True,
    )
    return listing.stdout.split()


def test_dispatched_examples_run_on_the_nodes_and_come_back_in_the_report(
    write_example, examples_dir, profile, tmp_path
):
    for index in range(4):
        write_example(f"anywhere-{index}", [f"square = {index} * {index}"], runs_on="any")
    write_example("login-only", ["here = 'the login node'"])
    setup = _setup(profile, tmp_path, nodes=2)
    run = run_examples(profile=profile, examples_dir=examples_dir, workers=4, dispatch=setup)
    results = {r.example: r for r in run.results}
    assert {r.status for r in run.results} == {"passed"}, [r.reason for r in run.failed]
    nodes = {t.node for t in setup.targets}
    for index in range(4):
        assert results[f"anywhere-{index}"].node in nodes
        assert results[f"anywhere-{index}"].partition == profile.doc_ci.dispatch_partition
    assert results["login-only"].node is None
    assert not list((tmp_path / "dispatch").iterdir()), "the run folder outlived the run"


def test_a_hung_dispatched_example_fails_alone_and_the_worker_goes_on(
    write_example, examples_dir, profile, tmp_path
):
    write_example("hangs-on-a-node", ["import time\ntime.sleep(600)"], runs_on="any", timeout=5)
    write_example("after-it", ["after = 'still running'"], runs_on="any")
    run = run_examples(
        profile=profile,
        examples_dir=examples_dir,
        dispatch=_setup(profile, tmp_path, nodes=1, workers_per_node=1),
    )
    results = {r.example: r for r in run.results}
    assert results["hangs-on-a-node"].status == "failed"
    assert "timed out after 5 s" in results["hangs-on-a-node"].reason
    assert results["after-it"].status == "passed", results["after-it"].reason


def test_a_worker_that_ends_fails_what_it_held_naming_its_node(
    write_example, examples_dir, profile, tmp_path
):
    write_example("held-by-the-worker", ["import time\ntime.sleep(600)"], runs_on="any", timeout=600)
    setup = _setup(profile, tmp_path, nodes=1, workers_per_node=1)

    def cancel_the_worker_once_its_kernel_runs() -> None:
        wait_until_gone(lambda: [] if (_worker_jobs() and doc_ci_processes()) else ["waiting"], seconds=90)
        subprocess.run(["scancel", f"--name={WORKER_JOB_NAME}"], check=False)

    canceller = threading.Thread(target=cancel_the_worker_once_its_kernel_runs)
    canceller.start()
    try:
        run = run_examples(profile=profile, examples_dir=examples_dir, dispatch=setup)
    finally:
        canceller.join()
    [result] = run.results
    assert result.status == "failed"
    assert f"the doc CI worker on node {setup.targets[0].node}" in result.reason
    assert "ended before it finished" in result.reason


RUNNER_SCRIPT = """
import sys
from pathlib import Path
from hpc_handbook.doc_ci.dispatch.jobs import DispatchSetup, dispatch_targets
from hpc_handbook.doc_ci.run.runner import run_examples
from hpc_handbook.profile import load_profile
profile = load_profile(sys.argv[1])
setup = DispatchSetup(targets=dispatch_targets(profile, 2, profile_file=sys.argv[1]), workers_per_node=1,
                      walltime="00:10:00", run_root=Path(sys.argv[3]))
run_examples(profile=profile, examples_dir=Path(sys.argv[2]), dispatch=setup)
"""


def test_interrupted_dispatched_run_leaves_no_worker_job_and_no_kernel(write_example, examples_dir, tmp_path):
    for index in range(2):
        write_example(f"hangs-{index}", ["import time\ntime.sleep(600)"], runs_on="any", timeout=600)
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER_SCRIPT, str(REPO / "site.yml"), str(examples_dir), str(tmp_path / "d")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while not (len(_worker_jobs()) == 2 and len(doc_ci_processes()) >= 2) and time.monotonic() < deadline:
        time.sleep(0.5)
    if len(_worker_jobs()) != 2:
        runner.kill()
        raise AssertionError(f"the workers did not start: {doc_ci_jobs()}")
    interrupt_and_expect_nothing_left(runner, timeout=90)


def test_more_nodes_than_the_partition_has_is_bad_input(profile):
    with pytest.raises(HandbookInputError) as raised:
        dispatch_targets(profile, 99, profile_file="site.yml")
    assert raised.value.file == "--dispatch-nodes"
    assert f"partition {profile.doc_ci.dispatch_partition!r} has" in raised.value.problem
