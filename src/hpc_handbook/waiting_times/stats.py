"""`hpc-handbook waiting-times`: how long jobs waited in the queue, from Slurm's own records.

`collect` reads the job-completion log (JobCompLoc, `jobcomp/filetxt`) and, where
accounting is on, `sacct`, and writes `book/data/waiting-times.json`: the median and
90th percentile waiting time per partition and per job size (nodes and requested
walltime), with the period and the number of jobs behind each figure. The "Plan your
session" page renders its table and plot from that file at build time.

`generate` (in `hpc_handbook.waiting_times.job_mix`) submits a short, realistic job mix so that a
fresh reference site has real numbers from its real scheduler to show.

A waiting time runs from the moment the job could start (its EligibleTime: submission,
or a later `--begin` or dependency) to its StartTime. `sacct -c` is not used: in Slurm
22.05 it reads the job-completion log but prints the start time in its Submit column.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from hpc_handbook.data.measured_on import MeasuredOn
from hpc_handbook.data.waiting_times import (
    COLLECT_COMMAND,
    Bucket,
    Figures,
    PartitionWaits,
    Period,
    WaitingTimes,
)
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.probe.partitions import probe_slurm
from hpc_handbook.slurm import slurm_config

DEFAULT_WEEKS = 4

#: Node-count buckets: (smallest, largest or None for no limit, label). Bounds are inclusive.
NODE_BUCKETS: tuple[tuple[int, int | None, str], ...] = (
    (1, 1, "1 node"),
    (2, 4, "2 to 4 nodes"),
    (5, 16, "5 to 16 nodes"),
    (17, None, "17+ nodes"),
)
#: Requested-walltime buckets: (largest in minutes or None for no limit, label). The bound is inclusive.
WALLTIME_BUCKETS: tuple[tuple[int | None, str], ...] = (
    (60, "up to 1 h"),
    (240, "1 to 4 h"),
    (720, "4 to 12 h"),
    (None, "over 12 h"),
)

# The filetxt plugin writes `Key=value` pairs separated by spaces, and values (a job
# name, a work dir) may hold spaces too, so a value runs up to the next known key.
JOBCOMP_KEYS = (
    "JobId", "UserId", "GroupId", "Name", "JobState", "Partition", "TimeLimit", "StartTime", "EndTime",
    "NodeList", "NodeCnt", "ProcCnt", "WorkDir", "ReservationName", "Tres", "Account", "QOS", "WcKey",
    "Cluster", "SubmitTime", "EligibleTime", "ArrayJobId", "ArrayTaskId", "HetJobId", "HetJobOffset",
    "DerivedExitCode", "ExitCode",
)  # fmt: skip
_JOBCOMP_KEY = re.compile(r"(?:^|(?<=\s))(" + "|".join(JOBCOMP_KEYS) + r")=")


@dataclasses.dataclass(frozen=True)
class JobRecord:
    """One finished job, as far as waiting times are concerned."""

    job_id: str
    name: str
    partition: str
    state: str
    nodes: int
    time_limit_minutes: int | None  # None: no limit
    submit: dt.datetime
    eligible: dt.datetime | None
    start: dt.datetime

    @property
    def wait_seconds(self) -> float:
        ready = self.eligible if self.eligible is not None and self.eligible >= self.submit else self.submit
        return max(0.0, (self.start - ready).total_seconds())


def parse_slurm_time(value: str | None) -> dt.datetime | None:
    """Parse Slurm's ISO local time; None for Unknown, None or an empty field."""
    if not value or value.strip().lower() in {"unknown", "none", "n/a", "0"}:
        return None
    try:
        return dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def _minutes(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    return None  # UNLIMITED, Partition_Limit


def parse_jobcomp_line(line: str) -> dict[str, str]:
    """Split one jobcomp/filetxt line into its fields."""
    matches = list(_JOBCOMP_KEY.finditer(line))
    fields = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(line)
        fields[match.group(1)] = line[match.end() : end].strip()
    return fields


def record_from_fields(fields: dict[str, str]) -> JobRecord | None:
    """A JobRecord for a job that started; None for one that never ran or a resize record."""
    start = parse_slurm_time(fields.get("StartTime"))
    submit = parse_slurm_time(fields.get("SubmitTime"))
    state = fields.get("JobState", "")
    if start is None or submit is None or start < submit or state.startswith("RESIZING"):
        return None
    try:
        nodes = int(fields.get("NodeCnt", "0"))
    except ValueError:
        return None
    if nodes < 1:
        return None
    return JobRecord(
        job_id=fields.get("JobId", ""),
        name=fields.get("Name", ""),
        partition=fields.get("Partition", ""),
        state=state,
        nodes=nodes,
        time_limit_minutes=_minutes(fields.get("TimeLimit")),
        submit=submit,
        eligible=parse_slurm_time(fields.get("EligibleTime")),
        start=start,
    )


def read_jobcomp(lines: Iterable[str]) -> list[JobRecord]:
    records = []
    for line in lines:
        if "JobId=" not in line:
            continue
        record = record_from_fields(parse_jobcomp_line(line))
        if record is not None:
            records.append(record)
    return records


SACCT_FIELDS = (
    "JobIDRaw",
    "JobName",
    "Partition",
    "State",
    "NNodes",
    "TimelimitRaw",
    "Submit",
    "Eligible",
    "Start",
)


def read_sacct(text: str) -> list[JobRecord]:
    """Parse `sacct -X -n -P -o <SACCT_FIELDS>` output (accounting storage, not `-c`)."""
    records = []
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) != len(SACCT_FIELDS):
            continue
        fields = dict(zip(SACCT_FIELDS, parts, strict=True))
        record = record_from_fields(
            {
                "JobId": fields["JobIDRaw"],
                "Name": fields["JobName"],
                "Partition": fields["Partition"],
                "JobState": fields["State"].split()[0] if fields["State"] else "",
                "NodeCnt": fields["NNodes"],
                "TimeLimit": fields["TimelimitRaw"],
                "SubmitTime": fields["Submit"],
                "EligibleTime": fields["Eligible"],
                "StartTime": fields["Start"],
            }
        )
        if record is not None:
            records.append(record)
    return records


# --- Statistics (pure) --------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile with linear interpolation between closest ranks.

    This is Hyndman and Fan's type 7, the default of numpy and R: for n sorted values
    it sits at rank (n - 1) * fraction, interpolating between the two values around it.
    """
    if not values:
        raise ValueError("no values")
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * fraction
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


def node_bucket(nodes: int) -> str:
    for smallest, largest, label in NODE_BUCKETS:
        if nodes >= smallest and (largest is None or nodes <= largest):
            return label
    raise ValueError(f"no node bucket for {nodes} nodes")


def walltime_bucket(minutes: int | None) -> str:
    for largest, label in WALLTIME_BUCKETS:
        if largest is None or (minutes is not None and minutes <= largest):
            return label
    raise ValueError(f"no walltime bucket for {minutes} minutes")


def _figures(waits: Sequence[float]) -> Figures:
    return Figures(
        jobs=len(waits), median_s=round(percentile(waits, 0.5), 1), p90_s=round(percentile(waits, 0.9), 1)
    )


def deduplicate(records: Iterable[JobRecord]) -> list[JobRecord]:
    """Keep one record per job; the same job can be in the completion log and in sacct.

    Job IDs restart when a site's state is reset, so the submit time is part of the identity.
    """
    seen: dict[tuple[str, dt.datetime], JobRecord] = {}
    for record in records:
        seen.setdefault((record.job_id, record.submit), record)
    return sorted(seen.values(), key=lambda r: (r.start, r.job_id))


def waiting_time_stats(
    records: Iterable[JobRecord], *, start: dt.datetime, end: dt.datetime, sources: Sequence[str] = ()
) -> WaitingTimes:
    """Median and 90th percentile waits per partition and per (nodes, walltime) bucket.

    Only jobs that started within [start, end) count; every figure carries its job count.
    """
    chosen = [r for r in deduplicate(records) if start <= r.start < end]
    partitions: dict[str, PartitionWaits] = {}
    for name in sorted({r.partition for r in chosen}):
        jobs = [r for r in chosen if r.partition == name]
        buckets = []
        for _, _, nodes_label in NODE_BUCKETS:
            for _, walltime_label in WALLTIME_BUCKETS:
                waits = [
                    r.wait_seconds
                    for r in jobs
                    if node_bucket(r.nodes) == nodes_label
                    and walltime_bucket(r.time_limit_minutes) == walltime_label
                ]
                if waits:
                    figures = _figures(waits)
                    buckets.append(Bucket(nodes=nodes_label, walltime=walltime_label, **figures.model_dump()))
        partitions[name] = PartitionWaits(all=_figures([r.wait_seconds for r in jobs]), buckets=buckets)
    return WaitingTimes(
        generated_by=COLLECT_COMMAND,
        period=Period(start=start.isoformat(timespec="minutes"), end=end.isoformat(timespec="minutes")),
        sources=list(sources),
        node_buckets=[label for _, _, label in NODE_BUCKETS],
        walltime_buckets=[label for _, label in WALLTIME_BUCKETS],
        total_jobs=len(chosen),
        partitions=partitions,
    )


def format_seconds(seconds: float) -> str:
    """Say a waiting time the way a reader plans with it: seconds, minutes or hours."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 120 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# --- Reading the site's records -----------------------------------------------------------


def collect_records(
    *, start: dt.datetime, end: dt.datetime, jobcomp: Path | None = None, use_sacct: bool = True
) -> tuple[list[JobRecord], list[str]]:
    """Read finished jobs from the completion log and, where accounting is on, from sacct."""
    # Ask Slurm only for what was not given, so a given log needs no running site.
    config = slurm_config() if jobcomp is None or use_sacct else {}
    records: list[JobRecord] = []
    sources = []
    if jobcomp is None and config.get("JobCompType") == "jobcomp/filetxt" and config.get("JobCompLoc"):
        jobcomp = Path(config["JobCompLoc"])
    if jobcomp is not None:
        try:
            with jobcomp.open(encoding="utf-8", errors="replace") as stream:
                records += read_jobcomp(stream)
        except OSError as exc:
            raise HandbookInputError(
                jobcomp, "", f"cannot read the job-completion log ({exc.strerror})"
            ) from None
        sources.append("jobcomp/filetxt")
    storage = config.get("AccountingStorageType", "accounting_storage/none")
    if use_sacct and storage != "accounting_storage/none" and shutil.which("sacct"):
        result = subprocess.run(
            [
                "sacct", "-a", "-X", "-n", "-P", "-o", ",".join(SACCT_FIELDS),
                "-S", start.isoformat(timespec="seconds"), "-E", end.isoformat(timespec="seconds"),
            ],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode == 0:
            records += read_sacct(result.stdout)
            sources.append("sacct")
    return records, sources


def current_partitions() -> MeasuredOn:
    """Each partition of the running site, with its node count, as Slurm reports it now."""
    _, partitions = probe_slurm()
    return MeasuredOn(partitions={name: int(p["total_nodes"]) for name, p in sorted(partitions.items())})
