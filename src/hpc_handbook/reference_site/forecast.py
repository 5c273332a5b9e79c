"""When a server would start: Slurm's own estimate and how long jobs of its size waited recently.

For a place of the spawn form and the size a user asks for, two figures, both said as estimates:
the scheduler's start time for such a job now (`sbatch --test-only`, as the user, so the project
and its limits count), and the median and 90th percentile wait of recent jobs of that size on
that partition (the waiting-time data the waiting-times page shows). From both, a range:
from the earlier of the scheduler's time and the median to the later of it and the 90th
percentile. While a server is pending, `squeue --start` gives Slurm's current estimate.

Like `spawn_options`, this module uses the standard library alone: `site up` copies it next to
the hub's configuration; the bench and the tests import it from the package.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MESSAGES: dict[str, str] = json.loads(
    (Path(__file__).resolve().parent / "hub_messages.json").read_text(encoding="utf-8")
)
_WILL_RUN_START = re.compile(r"Job \d+ to start at (\S+) using (\d+) processors on nodes (\S+)")


def will_run_command(partition: str, walltime: str, nodes: int, cpus: int, project: str | None) -> list[str]:
    """`sbatch --test-only` for a server's job of this size: Slurm's start estimate, nothing queued."""
    return [
        "sbatch", "--test-only", f"--partition={partition}", f"--time={walltime}", f"--nodes={nodes}",
        f"--cpus-per-task={cpus}", *([f"--account={project}"] if project else []), "--wrap", "true",
    ]  # fmt: skip


def parse_will_run(output: str) -> dt.datetime | None:
    """The start time in `sbatch --test-only`'s answer ("Job N to start at <time> ..."); None if absent."""
    match = _WILL_RUN_START.search(output)
    return dt.datetime.fromisoformat(match.group(1)) if match else None


def squeue_start_command(job_id: str) -> list[str]:
    """Slurm's current start estimate and reason for one pending job."""
    return ["squeue", "--start", "--noheader", "--jobs", job_id, "--format=%S|%r"]


def parse_squeue_start(output: str) -> tuple[dt.datetime | None, str]:
    """(estimated start or None, Slurm's reason) from `squeue_start_command`'s output."""
    line = next((line for line in output.splitlines() if "|" in line), "")
    start, _, reason = line.partition("|")
    try:
        when = dt.datetime.fromisoformat(start.strip())
    except ValueError:
        when = None
    return when, reason.strip() or "no reason given"


@dataclass(frozen=True)
class History:
    """How long recent jobs like this one waited: the bucket's or, lacking it, the partition's."""

    jobs: int
    median_s: float
    p90_s: float
    #: The size the figures are for ("1 node, up to 1 h"); None: the whole partition's jobs.
    size: str | None
    period: tuple[str, str]


def _bucket_label(value: int | None, buckets: list[list[Any]]) -> str | None:
    """The label of the bucket `value` falls in; each bucket is [smallest, largest or None, label]."""
    for smallest, largest, label in buckets:
        if value is not None and value >= smallest and (largest is None or value <= largest):
            return str(label)
    return None


def recent_waits(
    waiting_times: dict[str, Any] | None, partition: str, nodes: int, minutes: int
) -> History | None:
    """The waits of recent jobs of this size on `partition`, from hub-settings' `waiting_times`."""
    if not waiting_times or partition not in waiting_times.get("partitions", {}):
        return None
    waits = waiting_times["partitions"][partition]
    period = (waiting_times["period"]["start"], waiting_times["period"]["end"])
    node_label = _bucket_label(nodes, waiting_times["node_buckets"])
    walltime_label = _bucket_label(minutes, waiting_times["walltime_buckets"])
    for bucket in waits.get("buckets", []):
        if bucket["nodes"] == node_label and bucket["walltime"] == walltime_label:
            size = f"{node_label}, {walltime_label}"
            return History(bucket["jobs"], bucket["median_s"], bucket["p90_s"], size, period)
    figures = waits["all"]
    return History(figures["jobs"], figures["median_s"], figures["p90_s"], None, period)


@dataclass(frozen=True)
class Forecast:
    """When a server's job would start: the scheduler's estimate, the history, and the range from both."""

    partition: str
    scheduler_start: dt.datetime | None
    #: Why Slurm gave no start time (its own words), when it gave none.
    scheduler_note: str | None
    history: History | None
    asked_at: dt.datetime
    #: Slurm would refuse the job (its note says why), rather than only give no start time.
    refused: bool = False

    @property
    def earliest(self) -> dt.datetime | None:
        if self.scheduler_start is None:
            return None  # the history alone cannot say a job starts that Slurm gives no time for
        candidates = [self.scheduler_start]
        if self.history is not None:
            candidates.append(self.asked_at + dt.timedelta(seconds=self.history.median_s))
        return min(candidates) if candidates else None

    @property
    def latest(self) -> dt.datetime | None:
        if self.scheduler_start is None:
            return None
        candidates = [self.scheduler_start]
        if self.history is not None:
            candidates.append(self.asked_at + dt.timedelta(seconds=self.history.p90_s))
        return max(candidates) if candidates else None

    def within(self, started: dt.datetime) -> bool:
        """Whether a real start falls in the range shown, which is said to the minute."""
        if self.earliest is None or self.latest is None:
            return False
        low = self.earliest.replace(second=0, microsecond=0)
        high = self.latest.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        return low <= started < high


def say_wait(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _clock(when: dt.datetime, now: dt.datetime) -> str:
    return when.strftime("%H:%M") if when.date() == now.date() else when.strftime("%Y-%m-%d %H:%M")


def forecast_text(forecast: Forecast) -> str:
    """The forecast in words, for the form: the range, then where each end comes from."""
    now = forecast.asked_at
    if forecast.refused:
        return MESSAGES["forecast_refused"].format(
            partition=forecast.partition, reason=forecast.scheduler_note
        )
    parts = []
    if (
        forecast.earliest is not None
        and forecast.latest is not None
        and (_clock(forecast.earliest, now) == _clock(forecast.latest, now))
    ):
        parts.append(
            MESSAGES["forecast_at"].format(partition=forecast.partition, time=_clock(forecast.earliest, now))
        )
    elif forecast.earliest is not None and forecast.latest is not None:
        parts.append(
            MESSAGES["forecast_range"].format(
                partition=forecast.partition,
                earliest=_clock(forecast.earliest, now),
                latest=_clock(forecast.latest, now),
            )
        )
    else:
        parts.append(MESSAGES["forecast_unknown"].format(partition=forecast.partition))
    if forecast.scheduler_start is None:
        parts.append(
            MESSAGES["forecast_scheduler_none"].format(reason=forecast.scheduler_note or "no reason given")
        )
    elif forecast.scheduler_start <= now + dt.timedelta(seconds=59):
        parts.append(MESSAGES["forecast_scheduler_now"])
    else:
        wait = say_wait((forecast.scheduler_start - now).total_seconds())
        parts.append(
            MESSAGES["forecast_scheduler_at"].format(time=_clock(forecast.scheduler_start, now), wait=wait)
        )
    history = forecast.history
    if history is None:
        parts.append(MESSAGES["forecast_no_history"])
    else:
        figures = {
            "median": say_wait(history.median_s), "p90": say_wait(history.p90_s), "jobs": history.jobs,
            "start": history.period[0][:10], "end": history.period[1][:10],
        }  # fmt: skip
        key = "forecast_history" if history.size else "forecast_history_partition"
        parts.append(MESSAGES[key].format(size=history.size, **figures))
    return " ".join(parts)


def pending_text(output: str, now: dt.datetime) -> str:
    """The progress page's line for a pending server, from `squeue_start_command`'s output."""
    start, reason = parse_squeue_start(output)
    # Slurm says "None" for a job it has not looked at yet: no reason worth showing.
    said = f" ({reason})" if reason not in ("None", "no reason given") else ""
    if start is None:
        return MESSAGES["pending_no_estimate"].format(reason=said)
    wait = say_wait(max(0.0, (start - now).total_seconds()))
    return MESSAGES["pending_estimate"].format(time=_clock(start, now), wait=wait, reason=said)
