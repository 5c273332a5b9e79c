"""Waiting-time statistics from a constructed Slurm history: parsing, buckets, percentiles, the command."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from hpc_handbook.cli import main
from hpc_handbook.data.files import dump_json
from hpc_handbook.data.waiting_times import Bucket, Period, load_waiting_times
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.waiting_times.job_mix import plan_mix
from hpc_handbook.waiting_times.stats import (
    deduplicate,
    format_seconds,
    node_bucket,
    parse_jobcomp_line,
    percentile,
    read_jobcomp,
    read_sacct,
    waiting_time_stats,
    walltime_bucket,
)

BASE = dt.datetime(2026, 11, 2, 9, 0, 0)


def jobcomp_line(
    job_id: int,
    *,
    partition: str = "batch",
    wait_s: int = 0,
    nodes: int = 1,
    limit: str = "60",
    name: str = "job",
    state: str = "COMPLETED",
    submit: dt.datetime = BASE,
    eligible: dt.datetime | None = None,
    start: str | None = None,
) -> str:
    """One line exactly as Slurm 22.05's jobcomp/filetxt writes it (node names replaced)."""
    started = start if start is not None else (submit + dt.timedelta(seconds=wait_s)).isoformat()
    eligible_text = (eligible or submit).isoformat()
    return (
        f"JobId={job_id} UserId=alice(1000) GroupId=alice(1000) Name={name} JobState={state} "
        f"Partition={partition} TimeLimit={limit} StartTime={started} EndTime={started} NodeList=node[01-02] "
        f"NodeCnt={nodes} ProcCnt={nodes * 4} WorkDir=/scratch/alice/my run ReservationName= "
        f"Tres=cpu={nodes * 4},mem=4G,node={nodes},billing=4 Account= QOS= WcKey= Cluster=rcc "
        f"SubmitTime={submit.isoformat()} EligibleTime={eligible_text} DerivedExitCode=0:0 ExitCode=0:0 \n"
    )


# --- Parsing ------------------------------------------------------------------------------


def test_a_jobcomp_line_splits_on_known_keys_even_with_spaces_in_values() -> None:
    fields = parse_jobcomp_line(jobcomp_line(7, name="my analysis run", nodes=2))
    assert fields["JobId"] == "7"
    assert fields["Name"] == "my analysis run"
    assert fields["WorkDir"] == "/scratch/alice/my run"
    assert fields["NodeCnt"] == "2"
    assert fields["ReservationName"] == ""
    assert fields["SubmitTime"] == BASE.isoformat()


def test_jobs_that_never_started_and_resize_records_are_left_out() -> None:
    lines = [
        jobcomp_line(1, wait_s=30),
        jobcomp_line(2, state="CANCELLED", start="Unknown"),
        jobcomp_line(3, state="RESIZING", wait_s=5),
        "a line that is not a record\n",
    ]
    records = read_jobcomp(lines)
    assert [r.job_id for r in records] == ["1"]
    assert records[0].wait_seconds == 30


def test_the_wait_runs_from_eligible_time_not_from_a_deferred_submit() -> None:
    later = BASE + dt.timedelta(hours=1)
    [record] = read_jobcomp(
        [jobcomp_line(1, eligible=later, start=(later + dt.timedelta(seconds=45)).isoformat())]
    )
    assert record.wait_seconds == 45


def test_unlimited_time_limits_are_kept_as_no_limit() -> None:
    [record] = read_jobcomp([jobcomp_line(1, limit="UNLIMITED")])
    assert record.time_limit_minutes is None
    assert walltime_bucket(record.time_limit_minutes) == "over 12 h"


def test_sacct_parsable_output_is_read_with_its_own_submit_and_eligible_columns() -> None:
    text = (
        "12|train|batch|COMPLETED|2|90|2026-11-02T09:00:00|2026-11-02T09:00:00|2026-11-02T09:02:00\n"
        "13|test|batch|CANCELLED by 0|1|30|2026-11-02T09:00:00|2026-11-02T09:00:00|Unknown\n"
    )
    [record] = read_sacct(text)
    assert (record.job_id, record.nodes, record.time_limit_minutes, record.wait_seconds) == ("12", 2, 90, 120)


# --- Statistics ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([5], 0.5, 5),
        ([5], 0.9, 5),
        ([1, 2, 3, 4], 0.5, 2.5),
        ([1, 2, 3, 4], 0.9, 3.7),  # rank 2.7: 3 + 0.7 * (4 - 3)
        ([10, 0, 20], 0.5, 10),  # order of the input does not matter
        (list(range(1, 11)), 0.9, 9.1),  # rank 8.1
        (list(range(1, 11)), 0.0, 1),
        (list(range(1, 11)), 1.0, 10),
    ],
)
def test_percentile_interpolates_between_closest_ranks(
    values: list[float], fraction: float, expected: float
) -> None:
    assert percentile(values, fraction) == pytest.approx(expected)


def test_percentile_agrees_with_numpy_default() -> None:
    numpy = pytest.importorskip("numpy")
    values = [3, 141, 59, 26, 5, 358, 979, 32, 38, 46, 26, 433]
    for fraction in (0.1, 0.5, 0.9, 0.95):
        assert percentile(values, fraction) == pytest.approx(float(numpy.percentile(values, fraction * 100)))


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


@pytest.mark.parametrize(
    ("nodes", "label"), [(1, "1 node"), (2, "2 to 4 nodes"), (4, "2 to 4 nodes"), (5, "5 to 16 nodes"),
                         (16, "5 to 16 nodes"), (17, "17+ nodes")]
)  # fmt: skip
def test_node_bucket_bounds_are_inclusive(nodes: int, label: str) -> None:
    assert node_bucket(nodes) == label


@pytest.mark.parametrize(
    ("minutes", "label"),
    [(1, "up to 1 h"), (60, "up to 1 h"), (61, "1 to 4 h"), (240, "1 to 4 h"), (241, "4 to 12 h"),
     (720, "4 to 12 h"), (721, "over 12 h"), (None, "over 12 h")],
)  # fmt: skip
def test_walltime_bucket_bounds_are_inclusive(minutes: int | None, label: str) -> None:
    assert walltime_bucket(minutes) == label


def constructed_history() -> list[str]:
    """Four weeks of a made-up centre: known waits per partition and bucket, plus jobs outside the period."""
    lines = []
    job = 100
    # batch, 1 node, up to 1 h: waits 10..100 s -> median 55, p90 91.
    for wait in range(10, 101, 10):
        job += 1
        lines.append(jobcomp_line(job, wait_s=wait, limit="60", submit=BASE + dt.timedelta(days=job % 20)))
    # batch, 2-4 nodes, 4-12 h (exactly 12 h is still in the bucket): waits 600, 1200, 1800.
    for wait in (600, 1200, 1800):
        job += 1
        lines.append(jobcomp_line(job, wait_s=wait, nodes=4, limit="720"))
    # interactive, 1 node, 1-4 h (61 minutes is past the first bucket): one job.
    job += 1
    lines.append(jobcomp_line(job, partition="interactive", wait_s=3, limit="61"))
    # Outside the period: before its start, and exactly at its end (the end is excluded).
    lines.append(jobcomp_line(900, wait_s=5, submit=dt.datetime(2026, 10, 1)))
    lines.append(jobcomp_line(901, wait_s=0, submit=dt.datetime(2026, 11, 29, 12, 0)))
    # The same job twice (e.g. from the log and from sacct) counts once.
    lines.append(jobcomp_line(101, wait_s=10, limit="60", submit=BASE + dt.timedelta(days=101 % 20)))
    return lines


def test_statistics_per_partition_and_bucket_on_a_constructed_history() -> None:
    start, end = dt.datetime(2026, 11, 1), dt.datetime(2026, 11, 29, 12, 0)
    data = waiting_time_stats(
        read_jobcomp(constructed_history()), start=start, end=end, sources=["jobcomp/filetxt"]
    )
    assert data.total_jobs == 14
    assert data.period == Period(start="2026-11-01T00:00", end="2026-11-29T12:00")
    batch = data.partitions["batch"]
    assert batch.buckets == [
        Bucket(nodes="1 node", walltime="up to 1 h", jobs=10, median_s=55.0, p90_s=91.0),
        Bucket(nodes="2 to 4 nodes", walltime="4 to 12 h", jobs=3, median_s=1200.0, p90_s=1680.0),
    ]
    assert batch.all.jobs == 13
    assert data.partitions["interactive"].buckets == [
        Bucket(nodes="1 node", walltime="1 to 4 h", jobs=1, median_s=3.0, p90_s=3.0)
    ]
    assert data.node_buckets[0] == "1 node"
    assert data.walltime_buckets[-1] == "over 12 h"


def test_the_committed_statistics_load_and_are_written_back_unchanged() -> None:
    path = Path(__file__).resolve().parents[2] / "book" / "data" / "waiting-times.json"
    loaded = load_waiting_times(path)
    assert loaded is not None and loaded.format_version == 1
    assert dump_json(loaded) == path.read_text(encoding="utf-8")


def test_bad_statistics_are_bad_input_that_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "waiting-times.json"
    assert load_waiting_times(path) is None
    empty = waiting_time_stats([], start=dt.datetime(2026, 11, 1), end=dt.datetime(2026, 11, 2))
    data = json.loads(dump_json(empty))
    data["partitions"] = {"batch": {"all": {"jobs": 3, "median_s": "soon", "p90_s": 1.0}}}
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(HandbookInputError) as error:
        load_waiting_times(path)
    assert (error.value.file, error.value.where) == (str(path), "partitions.batch.all.median_s")


def test_duplicates_are_the_same_job_id_and_submit_time() -> None:
    records = read_jobcomp(
        [jobcomp_line(1, wait_s=5), jobcomp_line(1, wait_s=5), jobcomp_line(1, submit=BASE.replace(day=3))]
    )
    assert len(deduplicate(records)) == 2


def test_waiting_times_read_the_way_people_plan() -> None:
    assert [format_seconds(s) for s in (0, 42, 150, 5400, 7200, 200000)] == [
        "0 s", "42 s", "2 min", "90 min", "2.0 h", "2.3 days"
    ]  # fmt: skip


# --- The command --------------------------------------------------------------------------


def test_collect_writes_the_statistics_with_period_and_sources(tmp_path: Path) -> None:
    log = tmp_path / "jobcomp.log"
    log.write_text("".join(constructed_history()), encoding="utf-8")
    output = tmp_path / "waiting-times.json"
    code = main(
        ["waiting-times", "collect", "--jobcomp", str(log), "--no-sacct", "--until", "2026-11-29T12:00",
         "--weeks", "4", "--output", str(output)]
    )  # fmt: skip
    assert code == 0
    data = json.loads(output.read_text())
    assert data["period"]["start"] == "2026-11-01T12:00"
    assert data["total_jobs"] == 14
    assert "jobcomp/filetxt" in data["sources"]
    # Deterministic: the same history and period give the same file.
    first = output.read_text()
    main(["waiting-times", "collect", "--jobcomp", str(log), "--no-sacct", "--until", "2026-11-29T12:00",
          "--output", str(output)])  # fmt: skip
    assert output.read_text() == first


@pytest.mark.parametrize("args", [["--weeks", "0"], ["--until", "yesterday"]])
def test_collect_rejects_bad_input_with_exit_code_2(tmp_path: Path, args: list[str]) -> None:
    log = tmp_path / "jobcomp.log"
    log.write_text("", encoding="utf-8")
    assert main(["waiting-times", "collect", "--jobcomp", str(log), "--no-sacct", *args]) == 2


def test_an_unreadable_jobcomp_log_is_bad_input(tmp_path: Path) -> None:
    missing = tmp_path / "missing.log"
    code = main(["waiting-times", "collect", "--jobcomp", str(missing), "--no-sacct",
                 "--output", str(tmp_path / "out.json")])  # fmt: skip
    assert code == 2


# --- The job mix --------------------------------------------------------------------------

PARTITIONS = {
    "interactive": {
        "state": "UP",
        "max_nodes": 1,
        "max_time": "04:00:00",
        "total_nodes": 2,
        "total_cpus": 32,
    },
    "batch": {"state": "UP", "max_nodes": 4, "max_time": "1-00:00:00", "total_nodes": 2, "total_cpus": 32},
    "old": {"state": "DOWN", "max_nodes": 1, "max_time": "01:00:00", "total_nodes": 1, "total_cpus": 16},
}


def test_the_job_mix_stays_within_each_partitions_limits() -> None:
    plan = plan_mix(PARTITIONS, jobs=60, prefix="hbk-mix")
    assert len(plan) == 60
    assert {job.partition for job in plan} == {"interactive", "batch"}  # never a partition that is down
    for job in plan:
        assert job.name.startswith("hbk-mix-")
        assert 2 <= job.sleep_seconds <= 8
        assert 1 <= job.cpus <= 16
        if job.partition == "interactive":
            assert job.nodes == 1
            assert job.time_limit_minutes <= 240
        else:
            assert job.nodes <= 2  # MaxNodes is 4, but the partition has 2 nodes
    assert any(job.nodes == 2 for job in plan)
    assert {job.time_limit_minutes for job in plan if job.partition == "batch"} == {10, 90, 360, 1200}


def test_the_job_mix_is_repeatable_for_a_seed() -> None:
    assert plan_mix(PARTITIONS, jobs=20, prefix="x", seed=3) == plan_mix(
        PARTITIONS, jobs=20, prefix="x", seed=3
    )
    assert plan_mix(PARTITIONS, jobs=20, prefix="x", seed=3) != plan_mix(
        PARTITIONS, jobs=20, prefix="x", seed=4
    )


def test_every_planned_job_is_quiet_and_small() -> None:
    [job] = plan_mix(PARTITIONS, jobs=1, prefix="hbk-mix")
    command = job.sbatch_command()
    assert "--output=/dev/null" in command
    assert "--mem=64M" in command
    assert command[-1] == f"--wrap=sleep {job.sleep_seconds}"


# --- The page (the directive's pure parts) ------------------------------------------------


def test_the_page_shows_the_profiles_partitions_only_and_counts_their_jobs() -> None:
    from hpc_handbook.book.waiting_times_page import for_profile, waiting_rows

    start, end = dt.datetime(2026, 11, 1), dt.datetime(2026, 11, 29, 12, 0)
    data = waiting_time_stats(read_jobcomp(constructed_history()), start=start, end=end)
    shown = for_profile(data, ["batch", "gpu"])
    assert list(shown.partitions) == ["batch"]
    assert shown.total_jobs == 13  # the interactive job is not on a page about batch and gpu
    rows = waiting_rows(shown, ["batch", "gpu"])
    assert rows[0] == ["batch", "1 node", "up to 1 h", "10", "55 s", "91 s"]
    assert rows[1] == ["batch", "2 to 4 nodes", "4 to 12 h", "3", "20 min", "28 min"]
    assert rows[2][0].astext() == "batch" and rows[2][3].astext() == "13"  # the partition's total, in bold
    assert rows[3] == ["gpu", "any", "any", "0", "no jobs in this period", "—"]


def test_the_plot_is_drawn_from_the_statistics(tmp_path: Path) -> None:
    from hpc_handbook.book.waiting_times_page import draw_waiting_times

    start, end = dt.datetime(2026, 11, 1), dt.datetime(2026, 11, 29, 12, 0)
    data = waiting_time_stats(read_jobcomp(constructed_history()), start=start, end=end)
    target = tmp_path / "images" / "waiting-times.png"
    draw_waiting_times(data, target)
    assert target.read_bytes().startswith(b"\x89PNG")
