"""What the scorecard measures from: the profile, the changelog, the pages, and optional measurements.

The measurements (the doc CI's report, the probe's snapshot, the waiting-time statistics,
the hub's spawn and load figures)
may not exist yet. A page that reads one notes it as a dependency; one that finds it missing
notes that too, so the file's arrival re-reads the page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from hpc_handbook.book.changelog_pages import changelog_dir, loaded_fragments
from hpc_handbook.book.config import book_path
from hpc_handbook.book.site_facts import vocabulary_of
from hpc_handbook.book.state import note_missing_input, note_view
from hpc_handbook.changelog.fragments import Fragment
from hpc_handbook.data.examples_report import EXAMPLES_REPORT, ExamplesReport, load_examples_report
from hpc_handbook.data.forecast_accuracy import ForecastAccuracy, load_forecast_accuracy
from hpc_handbook.data.service_measurements import ServiceMeasurements, load_service_measurements
from hpc_handbook.data.snapshot import Snapshot, load_snapshot
from hpc_handbook.data.verification import VerificationRecord, load_verification
from hpc_handbook.data.waiting_times import WaitingTimes, load_waiting_times
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.profile import Profile
from hpc_handbook.site_facts import Vocabulary, build_vocabulary

logger = logging.getLogger(__name__)

Measurement = TypeVar(
    "Measurement", ExamplesReport, Snapshot, WaitingTimes, ServiceMeasurements, ForecastAccuracy
)


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """Everything the scorecard can measure from; a missing measurement is None."""

    profile: Profile
    fragments: Sequence[Fragment] = ()
    pages: frozenset[str] = frozenset()
    examples_report: ExamplesReport | None = None
    snapshot: Snapshot | None = None
    waiting_times: WaitingTimes | None = None
    service: ServiceMeasurements | None = None
    #: The spawn form's start forecast against real starts, from `nox -s bench`.
    forecast: ForecastAccuracy | None = None
    #: The site's names and facts, the same the pages state.
    vocabulary: Vocabulary | None = None
    #: Each example's last refresh record, by notebook name (None: never refreshed).
    verifications: dict[str, VerificationRecord | None] = field(default_factory=dict)

    @property
    def site(self) -> Vocabulary:
        """The site's vocabulary: the build's, else one from this evidence's profile and snapshot."""
        return self.vocabulary or build_vocabulary(self.profile, self.snapshot)


@dataclass(frozen=True)
class Finding:
    """A rating, the evidence behind it in MyST inline text, and where the evidence came from."""

    rating: str
    evidence: str
    source: str


#: A measurement returns a Finding, or a sentence saying why it cannot measure yet.
Measure = Callable[[Evidence], "Finding | str"]


def read_optional(path: Path, load: Callable[[Path], Measurement | None]) -> Measurement | None:
    """Read a measurement file that may not exist yet; a broken one is a warning, not a crash."""
    try:
        return load(path)
    except HandbookInputError as error:
        logger.warning(
            "%s; the scorecard treats it as missing", error.message, type="handbook", subtype="scorecard"
        )
        return None


def measured_here(data: Measurement | None, profile: Profile) -> Measurement | None:
    """Drop a measurement of another site: a book built for a second profile must not show the first's."""
    # Older files name no site; they are kept, and the freshness check marks what they miss.
    if data is not None and getattr(data, "site", None) not in (None, profile.site.short_name):
        return None
    return data


def optional_inputs(directive: SphinxDirective) -> dict[str, Path]:
    app = directive.env.app
    return {
        "examples_report": book_path(app, "handbook_reports_dir") / EXAMPLES_REPORT,
        "snapshot": book_path(app, "handbook_snapshot"),
        "waiting_times": book_path(app, "handbook_waiting_times"),
        "service": book_path(app, "handbook_service_measurements"),
        "forecast": book_path(app, "handbook_forecast_accuracy"),
    }


def gather_evidence(directive: SphinxDirective, profile: Profile) -> Evidence:
    """Read every input of the scorecard, noting each as a dependency of the page being read."""
    env = directive.env
    inputs = optional_inputs(directive)
    for path in inputs.values():
        if path.is_file():
            env.note_dependency(str(path))
        else:
            note_missing_input(env, path)
    # The changelog criterion counts fragments: re-read this page when one is added.
    note_view(env, "scorecard")
    fragments = loaded_fragments(env.app)
    for fragment in fragments:
        env.note_dependency(str(changelog_dir(env.app) / fragment.filename))
    return Evidence(
        profile=profile,
        fragments=fragments,
        pages=frozenset(env.found_docs),
        examples_report=measured_here(
            read_optional(inputs["examples_report"], load_examples_report), profile
        ),
        snapshot=measured_here(read_optional(inputs["snapshot"], load_snapshot), profile),
        waiting_times=measured_here(read_optional(inputs["waiting_times"], load_waiting_times), profile),
        service=measured_here(read_optional(inputs["service"], load_service_measurements), profile),
        forecast=measured_here(read_optional(inputs["forecast"], load_forecast_accuracy), profile),
        vocabulary=vocabulary_of(env),
        verifications=_verifications(env),
    )


def _verifications(env: BuildEnvironment) -> dict[str, VerificationRecord | None]:
    """The refresh record of every example notebook, each noted as a dependency."""
    records: dict[str, VerificationRecord | None] = {}
    for path in sorted((Path(env.app.confdir) / "examples").glob("*.ipynb")):
        env.note_dependency(str(path))
        try:
            records[path.stem] = load_verification(path)
        except HandbookInputError:
            records[path.stem] = None
    return records
