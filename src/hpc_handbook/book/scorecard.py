"""The service scorecard: how the service measures up against the white paper's criteria.

The criteria (accessibility, HPC resources, documentation, customization) are declared once,
with their wording, in `data/scorecard.yml`. This module holds the measures: each rating comes
from the best evidence there is, a measurement (the doc CI's report, the probe's snapshot, the
waiting-time statistics), else the profile, else the administrators' `self_assessment`;
otherwise it says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sphinx.application import Sphinx

from hpc_handbook.book.access_measures import ACCESS_MEASURES
from hpc_handbook.book.changelog_pages import human_date
from hpc_handbook.book.docs_measures import DOCS_MEASURES
from hpc_handbook.book.evidence import Evidence, Finding, Measure, gather_evidence
from hpc_handbook.book.generated import (
    GeneratedMyST,
    choice_argument,
    code_list,
    languages,
    list_table,
    wording,
)
from hpc_handbook.profile import Profile
from hpc_handbook.site_facts import look_up
from hpc_handbook.waiting_times.stats import format_seconds

RATING_BADGES = {
    "yes": "{bdg-success}`Yes`",
    "partly": "{bdg-warning}`Partly`",
    "no": "{bdg-danger}`No`",
    "untested": "{bdg-dark-line}`Untested`",
    "unknown": "{bdg-light}`Not yet known`",
}


@dataclass(frozen=True, kw_only=True)
class Criterion:
    id: str
    text: str
    #: Pages that address it, best first; the first one in the book is linked.
    pages: tuple[str, ...]

    @property
    def group(self) -> str:
        return self.id.split("-", 1)[0]

    @property
    def measure(self) -> Measure | None:
        return MEASURES.get(self.id)


def _profile_finding(rating: str, evidence: str) -> Finding:
    return Finding(rating, evidence, "site profile")


def _defaults(evidence: Evidence) -> Finding:
    profile = evidence.profile
    ready = [k.name for k in profile.kernels if k.start in ("local", "modules", "container")]
    default_place = look_up(evidence.site, "spawn default_place")
    # A server that starts at once, with kernels that need no choices, lets a new user explore.
    rating = "yes" if ready else "partly"
    text = (
        f"Kernels that start with no choices: {code_list(ready)}. "
        f"A new user's server starts where the spawn form's default puts it: {default_place.value}."
    )
    return Finding(rating, text, "site profile and the hub's spawn form")


def _configurable(evidence: Evidence) -> Finding | str:
    hub = evidence.snapshot.hub if evidence.snapshot is not None else None
    if hub is None or not hub.form_fields:
        return "Not yet measured: the probe has not read the hub's spawn form (`nox -s probe`)."
    fields = ", ".join(hub.form_fields)
    places = len(hub.form_places)
    return Finding(
        # Memory and GPUs go through the experts' #SBATCH lines, not fields of their own.
        "partly",
        f"The spawn form offers {places} places and asks for: {fields}. "
        "Memory and GPUs are asked for with the experts' #SBATCH lines; kernels in their own job take "
        "the partition and walltime their kernel sets.",
        "the hub's spawn form, probed",
    )


def _all_partitions(evidence: Evidence) -> Finding:
    profile = evidence.profile
    reachable = profile.jupyter_partitions
    missing = [p.name for p in profile.partitions if not p.jupyter]
    total = len(profile.partitions)
    text = f"Partitions Jupyter can use: {len(reachable)} of {total}"
    text += f" (not: {code_list(missing)})." if missing else "."
    rating = "yes" if not missing else "partly"
    source = "site profile"
    snapshot = evidence.snapshot
    if snapshot is not None:
        up = [name for name, p in snapshot.partitions.items() if p.state.upper() == "UP"]
        known = [p.name for p in profile.partitions]
        seen = [name for name in known if name in up]
        text += f" The probe of {snapshot.taken.isoformat()} saw {len(seen)} of {len(known)} up."
        source = "site profile and probe snapshot"
        if len(seen) < len(known):
            rating = "partly"
    return Finding(rating, text, source)


def _slurm_kernels(evidence: Evidence) -> Finding:
    slurm = [k for k in evidence.profile.kernels if k.start == "slurm"]
    if not slurm:
        return _profile_finding("no", "No kernel runs in a batch allocation of its own.")
    names = ", ".join(f"`{k.name}` on `{k.partition}`" for k in slurm)
    return _profile_finding(
        "partly",
        f"Kernels that run in their own batch job: {names}. "
        "Several can be open side by side, but one kernel never spans several allocations.",
    )


def _median_wait(evidence: Evidence, partition: str) -> float | None:
    entry = evidence.waiting_times.partitions.get(partition) if evidence.waiting_times else None
    return None if entry is None else entry.all.median_s


def _quick(evidence: Evidence) -> Finding | str:
    if evidence.waiting_times is None:
        return (
            "Not yet measured: there are no waiting-time statistics (`hpc-handbook waiting-times collect`)."
        )
    partitions = [p.name for p in evidence.profile.jupyter_partitions]
    waits = {name: _median_wait(evidence, name) for name in partitions}
    measured = {name: wait for name, wait in waits.items() if wait is not None}
    if not measured:
        return "Not yet measured: the waiting-time statistics have no jobs on the partitions Jupyter uses."
    period = evidence.waiting_times.period
    text = "Median queue wait: " + ", ".join(
        f"`{name}` {format_seconds(wait)}" for name, wait in measured.items()
    )
    if period.start and period.end:
        text += f" (jobs from {period.start[:10]} to {period.end[:10]})"
    interactive_wait = measured.get(evidence.profile.interactive_partition.name, min(measured.values()))
    # A session that starts within minutes keeps a user at work; an hour sends them elsewhere.
    rating = "yes" if interactive_wait <= 5 * 60 else "partly" if interactive_wait <= 3600 else "no"
    return Finding(rating, text + ".", "waiting-time statistics")


def _plan(evidence: Evidence) -> Finding | str:
    if evidence.waiting_times is None:
        return "Not yet measured: no waiting-time statistics are published yet."
    jobs = evidence.waiting_times.total_jobs
    published = f"Past waiting times per partition and job size are published ({jobs} jobs)"
    forecast = evidence.forecast
    if forecast is None or not forecast.probes:
        return Finding(
            "partly", f"{published}; the start forecast has not been measured.", "waiting-time statistics"
        )
    width = forecast.range_median_width_s
    return Finding(
        "yes",
        f"{published}, and the spawn form forecasts when a server starts on each place, from "
        f"Slurm's estimate and those waits. Measured against {len(forecast.probes)} real starts on a busy "
        f"`{forecast.partition}` partition on {forecast.date}: {forecast.within_range} started "
        "within the range shown"
        + (f" (its median width {width / 60:.0f} min)" if width is not None else "")
        + ".",
        "waiting-time statistics and `nox -s bench`",
    )


def _terminal(evidence: Evidence) -> Finding:
    profile = evidence.profile
    bash = [k.name for k in profile.kernels if k.language.lower() == "bash"]
    filesystems = code_list([f.name for f in profile.filesystems])
    if bash:
        return _profile_finding(
            "yes",
            f"JupyterLab terminals and the {code_list(bash)} kernel run shell commands "
            "such as `sbatch` and `squeue`; "
            f"the filesystems {filesystems} are documented.",
        )
    return _profile_finding(
        "partly", f"JupyterLab terminals only, no Bash kernel; the filesystems {filesystems} are documented."
    )


def _ready_kernels(evidence: Evidence) -> Finding:
    profile = evidence.profile
    text = f"{len(profile.kernels)} kernels ready to use, for {languages(profile)}."
    snapshot = evidence.snapshot
    if snapshot is None:
        return _profile_finding("yes", text)
    names = [k.name for k in profile.kernels]
    working = [n for n in names if n in snapshot.kernels and not snapshot.kernels[n].error]
    text += f" The probe of {snapshot.taken.isoformat()} started {len(working)} of {len(names)}."
    rating = "yes" if len(working) == len(names) else "partly" if working else "no"
    return Finding(rating, text, "site profile and probe snapshot")


#: The recipe that installs a third-party extension in a user's own JupyterLab and starts a server from it.
OWN_JUPYTERLAB_RECIPE = "recipe-own-jupyterlab"


def _any_extension(evidence: Evidence) -> Finding:
    jupyter = evidence.profile.jupyter
    if jupyter.users_can_install_extensions:
        return _profile_finding("yes", "Users can install JupyterLab extensions themselves.")
    if jupyter.own_environment is not None:
        return _own_environment_finding(evidence, f"~/{jupyter.own_environment.script}")
    installed = evidence.site.extensions
    probed = evidence.site.probed_jupyter
    listed = code_list(installed) if installed else "none"
    return Finding(
        "no",
        f"Users cannot install extensions; their servers have: {listed}.",
        "users' servers, probed" if probed else "site profile",
    )


def _own_environment_finding(evidence: Evidence, script: str) -> Finding:
    """Measured by the recipe that does it: the doc CI runs it through the hub as its account."""
    text = f"Users start their own JupyterLab, with any extension, from a start-up script (`{script}`)"
    record = evidence.verifications.get(OWN_JUPYTERLAB_RECIPE)
    site = evidence.profile.site.short_name
    if record is None or record.site != site or record.result != "passed":
        return Finding("untested", f"{text}; no run at this site has verified it yet.", "site profile")
    verified = (
        f"{{ref}}`{OWN_JUPYTERLAB_RECIPE}` installed a third-party extension and started a server from it"
    )
    return Finding("yes", f"{text}: {verified} on {record.date}.", "documentation test")


def _stack_mix(evidence: Evidence) -> Finding:
    module_kernels = [k for k in evidence.profile.kernels if k.start == "modules"]
    if not module_kernels:
        return _profile_finding("no", "No kernel loads the centre's modules.")
    described = "; ".join(f"`{k.name}` loads {code_list(k.modules)}" for k in module_kernels)
    return _profile_finding("yes", f"{described}.")


def _portable(evidence: Evidence) -> Finding:
    capabilities = evidence.profile.capabilities
    if capabilities.apptainer:
        return _profile_finding("yes", "Apptainer runs container images built elsewhere.")
    if capabilities.conda:
        return _profile_finding(
            "partly", "conda environments can be recreated here; there are no containers."
        )
    return _profile_finding(
        "no", "No Apptainer and no conda; pip in a virtual environment is the way to rebuild an environment."
    )


#: The measure of each criterion that can be measured, by criterion id.
MEASURES: dict[str, Measure] = {
    **ACCESS_MEASURES,
    **DOCS_MEASURES,
    "resources-defaults": _defaults,
    "resources-configurable": _configurable,
    "resources-all-partitions": _all_partitions,
    "resources-quick": _quick,
    "resources-combine-allocations": _slurm_kernels,
    "resources-plan": _plan,
    "resources-terminal-tasks": _terminal,
    "custom-defaults": _ready_kernels,
    "custom-any-extension": _any_extension,
    "custom-stack-mix": _stack_mix,
    "custom-portable": _portable,
}


@cache
def criteria() -> tuple[Criterion, ...]:
    """The criteria as `data/scorecard.yml` declares and words them, in its order."""
    return tuple(
        Criterion(id=entry["id"], text=entry["text"], pages=tuple(entry["pages"]))
        for entry in wording("scorecard.yml")["criteria"]
    )


def groups() -> dict[str, str]:
    """The criteria's groups, by the prefix of their ids, with their titles."""
    return dict(wording("scorecard.yml")["groups"])


def evaluate(criterion: Criterion, evidence: Evidence) -> Finding:
    """Rate one criterion: a measurement if there is one, else the self-assessment, else say so."""
    assessment = evidence.profile.self_assessment
    answer = assessment.answers.get(criterion.id)
    measured = criterion.measure(evidence) if criterion.measure else None
    if isinstance(measured, Finding):
        if answer is not None:
            # The administrators' note adds context; the measurement keeps the rating.
            return Finding(measured.rating, f"{measured.evidence} {answer.note}", measured.source)
        return measured
    if answer is not None:
        prefix = f"{measured} " if measured else ""
        reviewed = human_date(assessment.reviewed_on(criterion.id))
        source = f"administrators' self-assessment of the {answer.component}, reviewed {reviewed}"
        return Finding(answer.rating, prefix + answer.note, source)
    return Finding("unknown", measured or "Not yet assessed by the administrators.", "")


def evaluate_all(evidence: Evidence) -> list[tuple[Criterion, Finding]]:
    return [(criterion, evaluate(criterion, evidence)) for criterion in criteria()]


class Scorecard(GeneratedMyST):
    """One group of the scorecard: each criterion with its rating, evidence, source and page."""

    required_arguments = 1

    def run(self) -> list:
        self.group = choice_argument(self, list(groups()), subtype="scorecard")
        return super().run() if self.group else []

    def markdown(self, profile: Profile) -> list[str]:
        rows = []
        for criterion, finding in evaluate_all(gather_evidence(self, profile)):
            if criterion.group != self.group:
                continue
            rows.append(
                [
                    criterion.text,
                    RATING_BADGES[finding.rating],
                    finding.evidence + (f" *Source: {finding.source}.*" if finding.source else ""),
                    self.page(criterion.pages),
                ]
            )
        return list_table(
            ["Criterion", "Rating", "Evidence", "Addressed in"],
            rows,
            widths="30 12 40 18",
            css="handbook-scorecard",
        )


class ScorecardSummary(GeneratedMyST):
    """How many criteria of each group are met, partly met, not met or not yet known."""

    def markdown(self, profile: Profile) -> list[str]:
        findings = evaluate_all(gather_evidence(self, profile))
        columns = ("yes", "partly", "no", "untested", "unknown")
        rows = []
        for group, title in groups().items():
            ratings = [f.rating for c, f in findings if c.group == group]
            rows.append([title, *(str(ratings.count(r)) for r in columns)])
        totals = [f.rating for _, f in findings]
        rows.append(["**All**", *(f"**{totals.count(r)}**" for r in columns)])
        header = ["Group", *(RATING_BADGES[r] for r in columns)]
        reviewed = profile.self_assessment.reviewed
        note = (
            f"The administrators' self-assessment was last reviewed on {human_date(reviewed)}."
            if reviewed
            else "The administrators have not yet reviewed a self-assessment."
        )
        return [*list_table(header, rows, widths="auto", css="handbook-scorecard-summary"), "", note]


def setup_scorecard(app: Sphinx) -> None:
    app.add_directive("service-scorecard", Scorecard)
    app.add_directive("service-scorecard-summary", ScorecardSummary)
