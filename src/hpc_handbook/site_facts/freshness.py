"""Data older than the site: figures measured before a partition, a place or a kernel existed.

Freshness is a matter of sets, not dates: every partition the site has (with as many nodes as
it has now) must have waiting-time figures, every place of the spawn form spawn figures, and
every example a verification on each kernel its contract resolves to today. What fails is
stale: its page says so, the prose check reports it, and `nox -s refresh` measures it again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from hpc_handbook.data.service_measurements import SERVICE_MEASUREMENTS, ServiceMeasurements
from hpc_handbook.data.verification import VerificationRecord
from hpc_handbook.data.waiting_times import DEFAULT_OUTPUT as WAITING_TIMES
from hpc_handbook.data.waiting_times import WaitingTimes
from hpc_handbook.site_facts.vocabulary import Vocabulary

WAITING_TIMES_COMMAND = "nox -s waiting-times -- generate, then nox -s waiting-times"
SPAWNS_COMMAND = "hpc-handbook service-bench (nox -s bench)"


@dataclass(frozen=True)
class StaleFigure:
    #: The data file, or the example notebook whose record is stale.
    file: str
    #: What is stale: the figures of a partition or a place of the spawn form, or an example's kernels.
    about: Literal["partition", "place", "environment", "kernel"]
    #: The partition, the place, or the kernels the record lacks.
    names: tuple[str, ...]
    reason: str
    #: What measures it again.
    command: str

    @property
    def subject(self) -> str:
        """`partition gpu`, `place gpu`, `kernel python3-gpu`."""
        return f"{self.about} {', '.join(self.names)}"

    def line(self) -> str:
        return f"{self.file}: {self.subject}: {self.reason}; measure it again with `{self.command}`"


def _site_partitions(vocabulary: Vocabulary) -> dict[str, int]:
    """Each partition and its node count: as probed, else as the profile declares."""
    if vocabulary.snapshot is not None and vocabulary.snapshot.partitions:
        return {name: p.total_nodes for name, p in vocabulary.snapshot.partitions.items()}
    return {p.name: p.node_setup.count for p in vocabulary.profile.partitions}


def stale_waiting_times(vocabulary: Vocabulary, data: WaitingTimes | None) -> list[StaleFigure]:
    if data is None or data.site not in (None, vocabulary.profile.site.short_name):
        return []  # nothing published here, nothing stale: the page says there are no figures yet
    file = WAITING_TIMES.as_posix()
    measured = data.measured_on.partitions if data.measured_on is not None else None
    stale = []
    for name, nodes in sorted(_site_partitions(vocabulary).items()):
        if measured is None:
            reason = "the figures do not say which partitions they were measured on"
        elif name not in measured:
            reason = "measured before this partition existed"
        elif measured[name] != nodes:
            reason = f"measured when it had {measured[name]} node(s); it has {nodes} now"
        else:
            continue
        stale.append(StaleFigure(file, "partition", (name,), reason, WAITING_TIMES_COMMAND))
    return stale


def _form_places(vocabulary: Vocabulary) -> list[str]:
    hub = vocabulary.snapshot.hub if vocabulary.snapshot is not None else None
    if hub is not None and hub.form_places:
        return [place.value for place in hub.form_places]
    return [place.value for place in vocabulary.places]


def _form_environments(vocabulary: Vocabulary) -> list[str]:
    """The form's environments beyond its default, as probed; none before a probe saw the form."""
    hub = vocabulary.snapshot.hub if vocabulary.snapshot is not None else None
    return [e.value for e in hub.form_environments[1:]] if hub is not None else []


def stale_spawn_figures(vocabulary: Vocabulary, data: ServiceMeasurements | None) -> list[StaleFigure]:
    if data is None:
        return []
    file = SERVICE_MEASUREMENTS.as_posix()
    places = {spawn.place for spawn in data.spawns}
    environments = {spawn.environment for spawn in data.spawns}
    stale = [
        StaleFigure(
            file, "place", (place,), "the spawn form offers it, but no spawn was timed there", SPAWNS_COMMAND
        )
        for place in _form_places(vocabulary)
        if place not in places
    ]
    return stale + [
        StaleFigure(
            file,
            "environment",
            (name,),
            "the spawn form offers it, but no spawn in it was timed",
            SPAWNS_COMMAND,
        )
        for name in _form_environments(vocabulary)
        if name not in environments
    ]


def stale_verifications(
    records: Mapping[str, VerificationRecord | None], resolved: Mapping[str, Sequence[str]], site: str
) -> list[StaleFigure]:
    """Examples whose last refresh at this site ran on fewer kernels than their contract asks for today."""
    stale = []
    for example, kernels in sorted(resolved.items()):
        record = records.get(example)
        if record is None or record.site != site or record.result != "passed":
            continue  # not verified here at all: the page already says so
        missing = [k for k in kernels if k not in record.kernels]
        if missing:
            stale.append(
                StaleFigure(
                    f"examples/{example}.ipynb",
                    "kernel",
                    tuple(missing),
                    f"verified on {', '.join(record.kernels)} on {record.date}, "
                    "not on every kernel it runs on now",
                    f"nox -s refresh -- {example}",
                )
            )
    return stale
