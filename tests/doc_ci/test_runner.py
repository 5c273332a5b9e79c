"""The runner against the real reference site: drift, hangs, crashes, skips, placement, cleanup."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from hpc_handbook.data.verification import VERIFICATION_KEY
from hpc_handbook.doc_ci.refresh import refresh_examples
from hpc_handbook.doc_ci.run import cleanup
from hpc_handbook.doc_ci.run.runner import run_examples

from .conftest import REPO, doc_ci_jobs, doc_ci_processes, interrupt_and_expect_nothing_left, wait_until_gone

pytestmark = [pytest.mark.site, pytest.mark.usefixtures("leaves_nothing_behind")]


def by_name(run):
    return {(r.example, r.kernel): r for r in run.results}


def test_each_example_runs_exactly_once_per_kernel(write_example, examples_dir, profile, tmp_path):
    tally = tmp_path / "tally"
    tally.mkdir()
    # Kernels see the site's environment, not the test's: the folder is written into the cell.
    count_cell = f"import os, uuid\nopen(os.path.join({str(tally)!r}, uuid.uuid4().hex), 'w').close()"
    for index in range(3):
        write_example(
            f"count-{index}", [count_cell], kernels=["language:python"] if index == 0 else ["python3"]
        )
    python_kernels = [k.name for k in profile.kernels if k.language == "python"]
    run = run_examples(profile=profile, examples_dir=examples_dir)
    expected = len(python_kernels) + 2
    assert len(run.results) == expected
    assert run.executions == expected
    assert len(list(tally.iterdir())) == expected, "each (example, kernel) must execute exactly once"


def test_drifted_example_fails_with_the_diff(write_example, examples_dir, profile, tmp_path):
    quota = tmp_path / "quota"  # stands in for a setting of the system the page documents
    write_example(
        "drift", [f"from pathlib import Path\nprint('scratch quota:', Path({str(quota)!r}).read_text())"]
    )
    write_example("steady", ["print('unchanged')"])
    quota.write_text("10 TB")
    refresh_examples(profile=profile, examples_dir=examples_dir)
    assert run_examples(profile=profile, examples_dir=examples_dir).failed == []

    quota.write_text("5 TB")  # the system changed under the docs
    results = by_name(run_examples(profile=profile, examples_dir=examples_dir))
    drifted = results[("drift", "python3")]
    assert drifted.status == "failed"
    assert drifted.cell == 2
    assert "-scratch quota: 10 TB" in drifted.diff
    assert "+scratch quota: 5 TB" in drifted.diff
    assert drifted.page == "examples/drift" and drifted.owner == "test-team"
    assert results[("steady", "python3")].status == "passed"


def test_hung_example_times_out_and_the_others_pass(write_example, examples_dir, profile):
    write_example("hangs", ["print('start')", "import time\ntime.sleep(600)"], timeout=6)
    write_example("fine", ["print('ok')"])
    refresh_examples(profile=profile, examples_dir=examples_dir, names=["fine"])
    started = time.monotonic()
    run = run_examples(profile=profile, examples_dir=examples_dir)
    assert time.monotonic() - started < 60
    results = by_name(run)
    assert results[("hangs", "python3")].status == "failed"
    assert "timed out after 6 s" in results[("hangs", "python3")].reason
    assert results[("hangs", "python3")].cell == 3
    assert results[("fine", "python3")].status == "passed"


def test_crashing_kernel_is_reported(write_example, examples_dir, profile):
    write_example("crashes", ["import os\nos._exit(3)"])
    write_example("fine", ["print('ok')"])
    refresh_examples(profile=profile, examples_dir=examples_dir, names=["fine"])
    results = by_name(run_examples(profile=profile, examples_dir=examples_dir))
    assert results[("crashes", "python3")].status == "failed"
    assert "kernel died while running cell 2" in results[("crashes", "python3")].reason
    assert results[("fine", "python3")].status == "passed"


def test_unknown_kernel_on_this_site_fails_that_example_only(write_example, examples_dir, profile, tmp_path):
    # The profile names a kernel this site has not installed (a broken update, say).
    profile_text = (REPO / "site.yml").read_text().replace("  - name: bash\n", "  - name: bash-missing\n")
    (tmp_path / "site.yml").write_text(profile_text)
    from hpc_handbook.profile import load_profile

    broken_profile = load_profile(tmp_path / "site.yml")
    write_example(
        "needs-missing",
        ["echo hi"],
        kernel="bash-missing",
        language="bash",
        parameters='site_short_name="XX"',
    )
    write_example("fine", ["print('ok')"])
    refresh_examples(profile=profile, examples_dir=examples_dir, names=["fine"])
    results = by_name(run_examples(profile=broken_profile, examples_dir=examples_dir))
    assert "is not installed on this site" in results[("needs-missing", "bash-missing")].reason
    assert results[("fine", "python3")].status == "passed"


def test_nbval_tags(write_example, examples_dir, profile):
    write_example(
        "tags",
        [
            ("1 / 0", ["raises-exception"]),
            ("import random\nprint(random.random())", ["nbval-ignore-output"]),
            ("raise SystemExit('never run')", ["nbval-skip"]),
            "print('end')",
        ],
    )
    refresh_examples(profile=profile, examples_dir=examples_dir)
    assert [r.status for r in run_examples(profile=profile, examples_dir=examples_dir).results] == ["passed"]


def test_untagged_error_fails_with_the_cell(write_example, examples_dir, profile):
    write_example("raises", ["print('before')", "{}['missing']"])
    result = run_examples(profile=profile, examples_dir=examples_dir).results[0]
    assert result.status == "failed" and result.cell == 3
    assert "KeyError" in result.reason


def test_missing_capability_is_skipped_with_its_reason(write_example, examples_dir, profile):
    path = write_example("gpu", ["print('never')"], requires=["gpu"])
    # Outputs another site recorded: a refresh that ran nothing here must not keep them as this site's.
    recorded_elsewhere = nbformat.read(path, as_version=4)
    recorded_elsewhere.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="never\n")]
    recorded_elsewhere.cells[2].execution_count = 1
    nbformat.write(recorded_elsewhere, path)
    result = run_examples(profile=profile, examples_dir=examples_dir).results[0]
    assert result.status == "skipped"
    assert result.reason.startswith("no GPU")
    refresh_examples(profile=profile, examples_dir=examples_dir)
    refreshed = nbformat.read(path, as_version=4)
    record = refreshed.metadata[VERIFICATION_KEY]
    assert record["result"] == "skipped" and "no GPU" in record["reason"]
    assert [cell.outputs for cell in refreshed.cells if cell.cell_type == "code"] == [[], []]
    assert refreshed.cells[2].execution_count is None


def test_partition_example_runs_inside_an_allocation_there(write_example, examples_dir, profile):
    batch = profile.batch_partition.name
    write_example(
        "on-batch",
        [
            "import os\n"
            "print(os.environ.get('SLURM_JOB_PARTITION'), os.environ.get('SLURM_JOB_ID') is not None)"
        ],
        runs_on={"partition": batch, "walltime": "00:05:00"},
    )
    refresh_examples(profile=profile, examples_dir=examples_dir)
    notebook = nbformat.read(examples_dir / "on-batch.ipynb", as_version=4)
    assert notebook.cells[2].outputs[0]["text"] == f"{batch} True\n"
    result = run_examples(profile=profile, examples_dir=examples_dir).results[0]
    assert result.status == "passed" and result.partition == batch


def test_refresh_is_atomic_and_keeps_a_broken_example_untouched(write_example, examples_dir, profile):
    path = write_example("breaks", ["print('ok')"])
    refresh_examples(profile=profile, examples_dir=examples_dir)
    before = path.read_bytes()
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[2].source = "raise RuntimeError('the site broke')"
    nbformat.write(notebook, path)
    edited = path.read_bytes()
    results = refresh_examples(profile=profile, examples_dir=examples_dir)
    assert results[0].status == "failed" and not results[0].output_mismatch_only
    assert path.read_bytes() == edited != before
    assert not list(examples_dir.glob(".*"))  # no temporary file left beside it


def test_refresh_writes_sanitized_outputs(write_example, examples_dir, profile):
    import socket

    path = write_example(
        "who", ["import os, socket\nprint(socket.gethostname(), os.getcwd(), os.path.expanduser('~'))"]
    )
    refresh_examples(profile=profile, examples_dir=examples_dir)
    text = path.read_text()
    assert socket.gethostname() not in text.replace('"name": ', "")
    assert os.path.expanduser("~") not in text
    assert "<host> <workdir>/who-" in text or "<host> <workdir>" in text


RUNNER_SCRIPT = """
import sys
from pathlib import Path
from hpc_handbook.doc_ci.run.runner import run_examples
from hpc_handbook.profile import load_profile
print("started", flush=True)
run_examples(profile=load_profile(sys.argv[1]), examples_dir=Path(sys.argv[2]),
             on_result=lambda r: print(r.example, r.status, flush=True))
"""


def _start_runner(examples_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER_SCRIPT, str(REPO / "site.yml"), str(examples_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kernel_processes() -> list[int]:
    """Running kernels: not the `srun` clients or launchers whose command line names a kernel too.

    Until the kernel itself runs inside its job, the job step is still starting, and a
    killed `srun` then takes the allocation with it.
    """

    def is_kernel(pid: int) -> bool:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        program = Path(argv[0].decode(errors="replace")).name
        return program.startswith("python") and any(b"ipykernel" in part for part in argv[1:3])

    return [pid for pid in doc_ci_processes() if is_kernel(pid)]


def _running_jobs() -> list[str]:
    return [line for line in doc_ci_jobs() if line.split()[0] in _running_job_ids()]


def _running_job_ids() -> set[str]:
    listing = subprocess.run(
        ["squeue", "--noheader", "--states=R", "--format=%i"], capture_output=True, text=True
    )
    return set(listing.stdout.split())


def _wait_for_kernels(*, kernels: int, running_jobs: int, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if len(_running_jobs()) >= running_jobs and len(_kernel_processes()) >= kernels:
            return
        time.sleep(0.5)
    raise AssertionError(f"kernels did not start: jobs={doc_ci_jobs()} kernels={_kernel_processes()}")


def _hanging_examples(write_example, profile, started: Path | None = None) -> None:
    """Three examples that hang; with `started`, each first leaves a mark there once its cell runs."""

    def cell(name: str) -> str:
        mark = f"import pathlib\npathlib.Path({str(started / name)!r}).touch()\n" if started else ""
        return f"{mark}import time\ntime.sleep(600)"

    write_example("hang-login", [cell("hang-login")], timeout=600)
    write_example(
        "hang-batch",
        [cell("hang-batch")],
        timeout=600,
        runs_on={"partition": profile.batch_partition.name, "walltime": "00:20:00"},
    )
    write_example("hang-slurm-kernel", [cell("hang-slurm-kernel")], timeout=600, kernel="python3-batch")


def _wait_for_cells(started: Path, names: list[str], seconds: float = 120) -> None:
    """Until a cell runs, its job step may still be launching, and a killed srun takes it along."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all((started / name).exists() for name in names):
            return
        time.sleep(0.5)
    raise AssertionError(f"cells did not start: {sorted(p.name for p in started.iterdir())} of {names}")


def test_interrupted_run_leaves_no_job_and_no_kernel(write_example, examples_dir, profile):
    _hanging_examples(write_example, profile)
    runner = _start_runner(examples_dir)
    try:
        _wait_for_kernels(kernels=3, running_jobs=2)
    except AssertionError:
        runner.kill()
        raise
    interrupt_and_expect_nothing_left(runner, timeout=60)


def test_killed_srun_client_leaves_its_kernel_until_the_next_run_sweeps_it(
    write_example, examples_dir, profile
):
    started = examples_dir.parent / "started"
    started.mkdir()
    started.chmod(0o1777)  # the kernels may run as the doc-CI account
    _hanging_examples(write_example, profile, started)
    runner = _start_runner(examples_dir)
    try:
        _wait_for_kernels(kernels=3, running_jobs=2)
        _wait_for_cells(started, ["hang-login", "hang-batch", "hang-slurm-kernel"])
        # Kill the runner and every srun client outright: nothing gets to clean up.
        runner.kill()
        runner.wait(timeout=30)
        subprocess.run(["pkill", "-KILL", "-x", "srun"], check=False)
        time.sleep(2)
        # The example placed on a partition keeps its allocation: nothing ends it but scancel or
        # its time limit. (The Slurm-backed kernel's own launcher cancels its job when its srun dies.)
        placed = [line for line in _running_jobs() if " handbook-ci-" in line]
        assert placed, "the allocation outlives its killed srun client"
    finally:
        runner.kill()
        cleanup.end_run(None)  # what every run does first: sweep runs whose runner is gone
    assert not wait_until_gone(doc_ci_jobs), f"jobs left: {doc_ci_jobs()}"
    assert not wait_until_gone(doc_ci_processes), f"kernels left: {doc_ci_processes()}"


def test_jobs_an_example_submits_itself_are_cancelled_when_it_fails(write_example, examples_dir, profile):
    # sbatch has no variable for a comment, so the run finds these by their working folder.
    write_example(
        "submits-then-fails",
        [
            "import subprocess\n"
            f"print(subprocess.run(['sbatch', '--partition={profile.batch_partition.name}', "
            "'--time=00:10:00', '--wrap', 'sleep 300'], check=True, capture_output=True, text=True).stdout)",
            "raise RuntimeError('the example fails before it waits for its job')",
        ],
    )
    result = run_examples(profile=profile, examples_dir=examples_dir).results[0]
    assert result.status == "failed" and "RuntimeError" in result.reason
    submitted = result.notebook.cells[3].outputs  # the injected parameters cell shifts the cells by one
    job_id = submitted[0]["text"].split()[-1]
    assert submitted[0]["text"].startswith("Submitted batch job")
    listing = subprocess.run(
        ["squeue", "--noheader", "--format=%i"], capture_output=True, text=True, check=True
    )
    assert job_id not in listing.stdout.split(), f"job {job_id} the example submitted was left behind"
