"""The dispatch queue without Slurm: claims, verdicts, lost workers, and bad options."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hpc_handbook.doc_ci.dispatch import jobs as dispatch
from hpc_handbook.doc_ci.dispatch.jobs import (
    CLAIMED,
    LOGS,
    DispatchTarget,
    Gatherer,
    Manifest,
    QueuedRun,
    Share,
    WorkerJobs,
    claimed_name,
    dispatch_targets,
    write_queue,
)
from hpc_handbook.doc_ci.dispatch.worker import claim_next, start_together, write_result
from hpc_handbook.doc_ci.run.execute import JobResult
from hpc_handbook.errors import HandbookInputError

from .conftest import REPO


def _queue(run_dir: Path, count: int) -> None:
    manifest = Manifest(
        run_id="handbook-ci:1-00000000", profile={}, examples_dir=".", sanitize_rules=None, workers_per_node=1
    )
    write_queue(
        run_dir, manifest, [QueuedRun(index=i, example=f"ex-{i}", kernel="python3") for i in range(count)]
    )


def _verdict(index: int, status="passed") -> JobResult:
    return JobResult(example=f"ex-{index}", kernel="python3", status=status, node="rcc-cpu01")


def test_workers_racing_for_the_queue_never_take_a_run_twice(tmp_path):
    _queue(tmp_path, 200)
    taken: dict[str, list[int]] = {f"job{n}": [] for n in range(4)}

    def drain(job_id: str) -> None:
        while (queued := claim_next(tmp_path, job_id)) is not None:
            taken[job_id].append(queued.index)

    threads = [threading.Thread(target=drain, args=(job_id,)) for job_id in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = sorted(index for indices in taken.values() for index in indices)
    assert every == list(range(200))
    claimed = sorted(p.name for p in (tmp_path / CLAIMED).iterdir())
    assert claimed == sorted(claimed_name(i, j) for j, indices in taken.items() for i in indices)


def _gatherer(tmp_path: Path, count: int, *, ended: set[str]) -> Gatherer:
    targets = {"11": DispatchTarget("batch", "rcc-cpu01", 8), "12": DispatchTarget("batch", "rcc-cpu02", 8)}
    jobs = WorkerJobs(targets=targets, submitted_at=0.0, ended=ended, started=True)
    return Gatherer(tmp_path, {i: (f"ex-{i}", "python3") for i in range(count)}, jobs)


def _fail(index: int, reason: str) -> JobResult:
    return JobResult(example=f"ex-{index}", kernel="python3", status="failed", reason=reason)


def test_verdicts_are_read_once_each_as_the_worker_wrote_them(tmp_path):
    _queue(tmp_path, 3)
    gatherer = _gatherer(tmp_path, 3, ended=set())
    seen: list[JobResult] = []
    write_result(tmp_path, 1, _verdict(1))
    gatherer.collect(seen.append)
    gatherer.collect(seen.append)
    assert [(r.example, r.node) for r in seen] == [("ex-1", "rcc-cpu01")]
    assert gatherer.pending == {0, 2}
    assert not list((tmp_path / "results").glob(".*")), "a partial verdict was left behind"


def test_what_an_ended_worker_held_fails_with_its_node_and_its_last_words(tmp_path):
    _queue(tmp_path, 3)
    claim_next(tmp_path, "11")  # run 0, held by the worker that then ends
    claim_next(tmp_path, "12")  # run 1, held by a worker still at work
    (tmp_path / LOGS / "worker-11.log").write_text("slurmstepd: error: *** JOB 11 CANCELLED ***\n")
    gatherer = _gatherer(tmp_path, 3, ended={"11"})
    seen: list[JobResult] = []
    gatherer.fail_lost(_fail, seen.append)
    assert [r.example for r in seen] == ["ex-0"]
    assert "the doc CI worker on node rcc-cpu01 (Slurm job 11) ended before it finished" in seen[0].reason
    assert "JOB 11 CANCELLED" in seen[0].reason
    assert gatherer.pending == {1, 2}


def test_once_no_worker_is_left_every_waiting_run_fails(tmp_path):
    _queue(tmp_path, 2)
    gatherer = _gatherer(tmp_path, 2, ended={"11", "12"})
    seen: list[JobResult] = []
    gatherer.fail_lost(_fail, seen.append)
    assert sorted(r.example for r in seen) == ["ex-0", "ex-1"]
    assert all("every doc CI worker job ended before it ran" in r.reason for r in seen)
    assert not gatherer.pending


def test_a_run_without_a_dispatch_partition_is_bad_input(profile):
    without = profile.model_copy(
        update={"doc_ci": profile.doc_ci.model_copy(update={"dispatch_partition": None})}
    )
    with pytest.raises(HandbookInputError) as raised:
        dispatch_targets(without, 1, profile_file="site.yml")
    assert (raised.value.file, raised.value.where) == ("site.yml", "doc_ci.dispatch_partition")


def test_more_nodes_than_take_jobs_names_where_the_count_came_from(profile, monkeypatch):
    nodes = [DispatchTarget("batch", "rcc-cpu01", 8)]
    monkeypatch.setattr(dispatch, "partition_nodes", lambda partition: nodes)
    with pytest.raises(HandbookInputError) as from_option:
        dispatch_targets(profile, 3, profile_file="site.yml")
    assert from_option.value.file == "--dispatch-nodes"
    assert "3 node(s) asked, expected 1 to 1" in from_option.value.problem
    with pytest.raises(HandbookInputError) as from_profile:
        dispatch_targets(profile, None, profile_file="site.yml")  # the profile asks for 2
    assert from_profile.value.where == "doc_ci.dispatch_nodes"
    assert (
        dispatch_targets(
            profile.model_copy(update={"doc_ci": profile.doc_ci.model_copy(update={"dispatch_nodes": None})}),
            None,
            profile_file="site.yml",
        )
        == nodes
    )


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--dispatch-nodes", "2"], "--dispatch-nodes: expected --dispatch slurm beside it"),
        (["--dispatch", "ssh"], "invalid choice: 'ssh'"),
    ],
)
def test_bad_dispatch_options_exit_2_before_anything_runs(options, expected, tmp_path):
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("hpc-handbook")),
            "examples",
            "--site",
            str(REPO / "site.yml"),
            *options,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr


def test_each_worker_takes_its_own_share_first_then_any(tmp_path):
    _queue(tmp_path, 6)
    second_of_two = Share(rank=1, of=2)
    taken = [claim_next(tmp_path, "12", second_of_two).index for _ in range(6)]
    assert taken == [1, 3, 5, 0, 2, 4]
    assert claim_next(tmp_path, "12", second_of_two) is None


def test_workers_start_together_and_do_not_wait_for_one_that_never_starts(tmp_path):
    _queue(tmp_path, 4)

    async def two_of_three_start() -> list[int]:
        first = asyncio.create_task(start_together(tmp_path, "job1", 2, timeout_s=30))
        await asyncio.sleep(0.3)
        assert not first.done(), "the first worker must wait for the second"
        return await asyncio.gather(first, start_together(tmp_path, "job2", 2, timeout_s=30))

    started = time.monotonic()
    assert asyncio.run(two_of_three_start()) == [2, 2]
    assert time.monotonic() - started < 5
    started = time.monotonic()
    assert asyncio.run(start_together(tmp_path, "job3", 4, timeout_s=0.5)) == 3
    assert 0.5 <= time.monotonic() - started < 5
