"""The spawn form's start forecast: Slurm's estimate, the recent waits, the range, in words."""

from __future__ import annotations

import datetime as dt

from hpc_handbook.profile import load_profile
from hpc_handbook.reference_site.forecast import (
    Forecast,
    History,
    forecast_text,
    parse_squeue_start,
    parse_will_run,
    pending_text,
    recent_waits,
    will_run_command,
)
from hpc_handbook.reference_site.hub import spawn_places, waiting_times_for_hub
from hpc_handbook.reference_site.spawn_form import form_html
from hpc_handbook.reference_site.spawn_options import Place

NOW = dt.datetime(2026, 12, 7, 10, 0, 0)
PERIOD = ("2026-11-08T18:25", "2026-12-06T18:25")
# What Slurm 22.05's sbatch --test-only writes to stderr.
WILL_RUN = (
    "sbatch: Job 26 to start at 2026-12-07T10:12:16 using 8 processors on nodes rcc-cpu[01-02] "
    "in partition batch\n"
)


def test_slurms_start_estimate_is_read_from_its_answer():
    assert parse_will_run(WILL_RUN) == dt.datetime(2026, 12, 7, 10, 12, 16)
    assert parse_will_run("allocation failure: Requested node configuration is not available") is None


def test_the_estimate_is_asked_for_the_size_and_the_project():
    command = will_run_command("batch", "02:00:00", 2, 4, "rcc-course")
    assert command[:2] == ["sbatch", "--test-only"]
    assert {"--partition=batch", "--time=02:00:00", "--nodes=2", "--cpus-per-task=4"} <= set(command)
    assert "--account=rcc-course" in command
    assert not any(part.startswith("--account") for part in will_run_command("batch", "01:00:00", 1, 1, None))


def test_a_pending_servers_estimate_and_reason_are_read_from_squeue():
    assert parse_squeue_start("2026-12-07T11:30:00|Resources\n") == (
        dt.datetime(2026, 12, 7, 11, 30),
        "Resources",
    )
    assert parse_squeue_start("N/A|Priority\n") == (None, "Priority")
    assert pending_text("2026-12-07T11:30:00|Resources\n", NOW) == (
        "Pending in the queue: Slurm expects to start your server at 11:30, in 1.5 h (Resources)."
    )
    assert "has no start time for your server yet (Priority)" in pending_text("N/A|Priority", NOW)
    # A job Slurm has not looked at yet has the reason "None", which says nothing to a user.
    assert (
        pending_text("N/A|None", NOW) == "Pending in the queue: Slurm has no start time for your server yet."
    )


def test_the_recent_waits_are_the_sizes_bucket_or_else_the_partitions():
    waits = waiting_times_for_hub()
    assert waits is not None
    batch = waits["partitions"]["batch"]
    one_node_hour = recent_waits(waits, "batch", 1, 60)
    assert one_node_hour is not None and one_node_hour.size == "1 node, up to 1 h"
    bucket = next(b for b in batch["buckets"] if b["nodes"] == "1 node" and b["walltime"] == "up to 1 h")
    assert (one_node_hour.jobs, one_node_hour.median_s, one_node_hour.p90_s) == (
        bucket["jobs"], bucket["median_s"], bucket["p90_s"],
    )  # fmt: skip
    huge = recent_waits(waits, "batch", 40, 60)
    assert huge is not None and huge.size is None and huge.jobs == batch["all"]["jobs"]
    assert recent_waits(waits, "nowhere", 1, 60) is None
    assert recent_waits(None, "batch", 1, 60) is None


def test_the_range_runs_from_the_earlier_to_the_later_estimate_said_to_the_minute():
    history = History(jobs=10, median_s=120, p90_s=1800, size="1 node, up to 1 h", period=PERIOD)
    forecast = Forecast("batch", NOW + dt.timedelta(minutes=5), None, history, NOW)
    assert (forecast.earliest, forecast.latest) == (
        NOW + dt.timedelta(minutes=2),
        NOW + dt.timedelta(minutes=30),
    )
    assert forecast.within(NOW + dt.timedelta(minutes=2))
    assert forecast.within(NOW + dt.timedelta(minutes=30, seconds=59))
    assert not forecast.within(NOW + dt.timedelta(minutes=31))
    assert not forecast.within(NOW + dt.timedelta(minutes=1, seconds=59))
    text = forecast_text(forecast)
    assert text.startswith("batch: likely to start between 10:02 and 10:30.")
    assert "Slurm expects to start it at 10:05, in 5 min" in text
    assert (
        "Recent jobs of this size (1 node, up to 1 h) waited a median of 2 min; 90 % started within 30 min"
        in text
    )
    assert "(10 of them, 2026-11-08 to 2026-12-06)" in text


def test_a_start_now_with_no_history_says_both():
    text = forecast_text(Forecast("gpu", NOW, None, None, NOW))
    assert text == (
        "gpu: likely to start at 10:00. Slurm would start it now. "
        "There are no recent jobs on this partition to compare with."
    )


def test_without_slurms_time_no_range_is_made_up_from_the_history():
    history = History(jobs=3, median_s=5, p90_s=9, size=None, period=PERIOD)
    forecast = Forecast("gpu", None, "the partition is down", history, NOW)
    assert forecast.earliest is None and not forecast.within(NOW)
    text = forecast_text(forecast)
    assert text.startswith("gpu: no start time can be estimated now. Slurm gives no start time for it now: "
                           "the partition is down.")  # fmt: skip
    assert "No recent jobs of this size; this partition's jobs waited a median of 5 s" in text


def test_a_job_slurm_would_refuse_is_said_in_slurms_words():
    refused = Forecast("batch", None, "Job violates accounting/QOS policy", None, NOW, refused=True)
    assert forecast_text(refused) == "batch: Slurm would refuse this job: Job violates accounting/QOS policy."


def test_the_form_lists_each_places_forecast_and_follows_the_size_entered():
    places_form = form_html(
        _places(),
        forecasts={"login": "at once", "batch": "batch: likely to start at 10:00."},
        forecast_url="/hub/forecast",
        forecast_words={"heading": "When it would start", "hint": "Both figures are estimates."},
    )
    assert '<li data-place="batch">batch: likely to start at 10:00.</li>' in places_form
    assert 'data-url="/hub/forecast"' in places_form and "fetch(list.dataset.url" in places_form
    assert 'id="forecast-hint">Both figures are estimates.</small>' in places_form
    assert 'id="forecast"' not in form_html(_places())


def _places() -> list[Place]:
    return spawn_places(load_profile("site.yml"))


def test_the_bench_sets_each_real_start_against_what_the_form_said():
    from hpc_handbook.reference_site.forecast_bench import Submitted, accuracy, format_table, probe_job

    history = History(jobs=10, median_s=60, p90_s=300, size="1 node, up to 1 h", period=PERIOD)
    early = Submitted("11", 1, 1, NOW, Forecast("batch", NOW + dt.timedelta(minutes=10), None, history, NOW))
    late = Submitted("12", 1, 4, NOW, Forecast("batch", NOW + dt.timedelta(seconds=30), None, history, NOW))
    probes = [
        probe_job(early, NOW + dt.timedelta(minutes=4)),
        probe_job(late, NOW + dt.timedelta(minutes=20)),
    ]
    assert (probes[0].scheduler_s, probes[0].range_start_s, probes[0].range_end_s) == (600, 60, 600)
    assert probes[0].within_range and not probes[1].within_range
    measured = accuracy(load_profile("site.yml"), "batch", 30, probes)
    # |240 - 600| and |1200 - 30|; |240 - 60| and |1200 - 60|.
    assert measured.scheduler_median_abs_error_s == (360 + 1170) / 2
    assert measured.history_median_abs_error_s == (180 + 1140) / 2
    assert measured.within_range == 1 and measured.within_share == 0.5
    assert measured.range_median_width_s == (540 + 270) / 2
    table = format_table(measured)
    assert "| The form's range | - | 1 of 2 (50%) | 405 s |" in table
