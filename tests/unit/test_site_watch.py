"""The site watch: which daemon an outage names, which examples it fails, and how fast.

The daemons' answers are replaced by the outages a test chooses; the runner's loop and
its examples' tasks are real, so a failed example is a real verdict of `_run_jobs`.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from hpc_handbook.doc_ci.run import planning, runner, site_watch
from hpc_handbook.doc_ci.run.execute import JobResult
from hpc_handbook.doc_ci.run.site_watch import (
    STRIKES,
    InFlight,
    Outage,
    RunJob,
    SiteWatch,
    affected,
    owner_of,
    parse_jobs,
)
from hpc_handbook.examples.contract import Example, load_example
from hpc_handbook.profile import Profile, load_profile

REPO = Path(__file__).resolve().parents[2]
WORKROOT = "/home/rcc-docci/doc-ci-0123abcd"
IN_FLIGHT = {
    0: InFlight("recipe-dask-jobqueue", None, True, "recipe-dask-jobqueue-0"),
    1: InFlight("recipe-optimized-libraries", "batch", True, "recipe-optimized-libraries-1"),
    2: InFlight("start-first-notebook", None, False, "start-first-notebook-2"),
    3: InFlight("recipe-dask", None, True, "recipe-dask-3"),
}


def job(job_id: str, nodes: tuple[str, ...], workdir: str, partition: str = "batch") -> RunJob:
    return RunJob(job_id, "rcc-docci", partition, workdir, "(null)", nodes)


def test_squeue_lines_become_jobs_with_their_nodes() -> None:
    text = "17\trcc-docci\tbatch\t/home/rcc-docci\t(null)\trcc-cpu[01-02]\n18\trcc-docci\tgpu\t/tmp/x\tc\t\n"
    assert parse_jobs(text) == [
        RunJob("17", "rcc-docci", "batch", "/home/rcc-docci", "(null)", ("rcc-cpu01", "rcc-cpu02")),
        RunJob("18", "rcc-docci", "gpu", "/tmp/x", "c", ()),
    ]


def test_a_folder_belongs_to_the_example_with_the_longest_name_that_fits() -> None:
    direct = {0: InFlight("a", None, True, "a-"), 1: InFlight("a-b", None, True, "a-b-")}
    assert owner_of("a-b-x1y2z3", direct) == 1
    assert owner_of("a-x1y2z3", direct) == 0
    assert owner_of("recipe-dask-3", IN_FLIGHT) == 3
    assert owner_of("other-7", IN_FLIGHT) is None


def test_munged_or_slurmctld_down_fails_every_example_that_uses_slurm() -> None:
    for daemon in ("munged", "slurmctld"):
        assert affected(Outage(daemon, "no answer"), IN_FLIGHT, [], workroot=WORKROOT) == {0, 1, 3}


def test_a_slurmd_down_fails_only_the_examples_with_a_job_on_its_node() -> None:
    jobs = [
        job("20", ("rcc-cpu01", "rcc-cpu02"), f"{WORKROOT}/recipe-dask-jobqueue-0"),  # dask workers
        job("21", ("rcc-cpu03",), "/home/rcc-docci"),  # the batch server, where example 1 runs
    ]
    outage = Outage("slurmd", "127.0.0.1:6820: Connection refused", "rcc-cpu02")
    assert affected(outage, IN_FLIGHT, jobs, workroot=WORKROOT) == {0}
    outage = Outage("slurmd", "127.0.0.1:6821: Connection refused", "rcc-cpu03")
    assert affected(outage, IN_FLIGHT, jobs, workroot=WORKROOT) == {1}
    assert affected(Outage("slurmd", "x", "rcc-cpu04"), IN_FLIGHT, jobs, workroot=WORKROOT) == set()


def test_the_runs_jobs_are_its_accounts_its_tagged_and_those_from_its_folder() -> None:
    through_hub = SiteWatch(workroot=WORKROOT, run_id="handbook-ci:1-0123abcd", user="rcc-docci")
    assert through_hub._owned(job("21", ("rcc-cpu03",), "/home/rcc-docci"))
    direct = SiteWatch(workroot="/tmp/handbook-run-1-0123abcd-x", run_id="handbook-ci:1-0123abcd")
    assert not direct._owned(job("22", ("rcc-cpu02",), "/home/rcc-novice"))
    assert direct._owned(RunJob("23", "root", "batch", "/tmp/handbook-run-1-0123abcd-x/a-1/b", "(null)", ()))
    assert direct._owned(RunJob("24", "root", "batch", "/root", "handbook-ci:1-0123abcd", ()))


@pytest.mark.parametrize(
    ("shown", "problem"),
    [
        (b"Slurmctld(primary) at vm is UP\n", None),
        (b"Slurmctld(primary) at a is UP\nSlurmctld(backup) at b is DOWN\n", None),
        (b"Slurmctld(primary) at vm is DOWN\n", "scontrol ping: Slurmctld(primary) at vm is DOWN"),
    ],
)
def test_slurmctld_answers_while_one_controller_is_up(
    shown: bytes, problem: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = subprocess.CompletedProcess(["scontrol", "ping"], 0 if problem is None else 1, shown, b"")
    monkeypatch.setattr(site_watch, "_run", lambda command, stdin=None: answer)
    assert site_watch.slurmctld_problem() == problem


def test_the_reason_names_the_daemon() -> None:
    assert Outage("munged", "munge -n: Failed to access socket").reason.startswith("munged does not answer")
    assert "slurmctld does not answer (scontrol ping: " in Outage("slurmctld", "scontrol ping: DOWN").reason
    assert Outage("slurmd", "refused", "rcc-cpu02").reason.startswith(
        "slurmd on node rcc-cpu02 does not answer"
    )


def test_one_miss_is_not_an_outage_but_two_in_a_row_are() -> None:
    watch = SiteWatch(workroot=WORKROOT, run_id="handbook-ci:1-0123abcd", in_flight=dict(IN_FLIGHT))
    down = [Outage("slurmctld", "scontrol ping: no answer")]
    assert watch.judge(down, []) == {}
    assert watch.judge([], []) == {}  # it answered again: the count starts anew
    assert watch.judge(down, []) == {}
    assert set(watch.judge(down, [])) == {0, 1, 3}
    assert STRIKES == 2


# --- In the runner ----------------------------------------------------------------------


@pytest.fixture
def profile() -> Profile:
    return load_profile(REPO / "site.yml")


def write(folder: Path, profile: Profile, name: str, requires: list[str]) -> Example:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "handbook": {
            "audience": "expert",
            "kernels": ["python3"],
            "runs_on": "login",
            "requires": requires,
            "timeout": 600,
            "owner": "test-team",
        },
    }
    parameters = nbformat.v4.new_code_cell("")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# {name}"), parameters, nbformat.v4.new_code_cell("1")]
    folder.mkdir(exist_ok=True)
    nbformat.write(notebook, folder / f"{name}.ipynb")
    return load_example(folder / f"{name}.ipynb", profile)


def test_munged_killed_fails_the_slurm_examples_within_seconds_and_spares_the_rest(
    profile: Profile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    examples = [
        write(tmp_path, profile, "submits-jobs", ["slurm"]),
        write(tmp_path, profile, "plain-python", []),
    ]
    jobs, _ = planning.plan_jobs(examples, {"slurm": None})

    async def execute(example: Example, kernel: str, context: object, *, job_index: int) -> Any:
        # The Slurm example waits for its job forever, as `sbatch --wait` does once munged is gone.
        await asyncio.sleep(30 if example.name == "submits-jobs" else 1.0)
        return JobResult.for_example(example, kernel, "passed")

    monkeypatch.setattr(runner, "execute_example", execute)
    plan = {i: planning.in_flight(j, profile, i, through_hub=False) for i, j in enumerate(jobs)}
    watch = SiteWatch(workroot=str(tmp_path), run_id="handbook-ci:1-0123abcd", plan=plan, poll_s=0.05)
    monkeypatch.setattr(
        watch, "outages", lambda: ([Outage("munged", "munge -n: Failed to access socket")], [])
    )
    started = time.monotonic()
    results = asyncio.run(runner._run_jobs(jobs, object(), 2, lambda r: None, None, watch))  # type: ignore[arg-type]
    verdicts = {r.example: (r.status, r.reason) for r in results}
    assert verdicts["submits-jobs"] == (
        "failed",
        "munged does not answer on this machine (munge -n: Failed to access socket): "
        "Slurm cannot authenticate requests",
    )
    assert verdicts["plain-python"] == ("passed", "")
    assert time.monotonic() - started < 10
