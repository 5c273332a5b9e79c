"""What the service is for, what it cannot do, and how it measures up: scope, limitations and scorecard.

The three pages read the same facts, so they live together:

- the scope page's use cases and "what to run where" come from the profile's partitions and kernels;
- the limitations page derives most entries from the profile (partitions Jupyter cannot reach,
  missing capabilities, the extension policy), adds the administrators' own `known_limitations`,
  and states the handbook's own limits;
- the scorecard rates the service against the white paper's criteria (accessibility, HPC
  resources, documentation, customization). Each rating comes from the best evidence there is:
  a measurement (the doc CI's report, the probe's snapshot, the waiting-time statistics), else
  the profile, else the administrators' `self_assessment`; otherwise it says so.

The directives render generated MyST at read time, so every link they make is checked by
a nitpicky build, and note the files they read as dependencies.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from hpc_handbook.book.changelog_pages import _changelog_docs, human_date, loaded_fragments
from hpc_handbook.book.site_values import get_profile
from hpc_handbook.changelog import Fragment
from hpc_handbook.profile import Limitation, Profile

logger = logging.getLogger(__name__)

#: Where the optional measurements live when their own extension does not say (relative to the book root).
DEFAULT_SNAPSHOT = "book/data/snapshot.json"
DEFAULT_WAITING_TIMES = "book/data/waiting-times.json"
EXAMPLES_REPORT = "examples.json"

# Pages that address a criterion, best first; the first one in the book is linked, so a
# new, more specific page takes over as soon as it is added to the table of contents.
HOME = "book/index"
START = "book/start/index"
RECIPES = "book/recipes/index"
OPERATE = "book/operate/index"
SCOPE = "book/reference/scope"
LIMITATIONS = "book/reference/limitations"
CHANGELOG = "book/reference/changelog"
STATUS = "book/reference/status"
WAITING_TIMES_PAGE = "book/reference/waiting-times"


# --- Limitations -------------------------------------------------------------------------


@dataclass(frozen=True)
class LimitationEntry:
    """One limitation as the page shows it; dates are None when the profile does not record them."""

    title: str
    details: str
    workaround: str
    since: dt.date | None
    reviewed: dt.date | None
    #: Pages with more on it, best first; the first one in the book is linked.
    see_also: tuple[str, ...] = ()


#: The handbook's own limits, the same for every centre; its maintainers review them.
HANDBOOK_LIMITATIONS = (
    LimitationEntry(
        title="Examples are recorded on a one-machine reference site",
        details=(
            "The reference outputs on the example pages were recorded on the handbook's reference site: "
            "Slurm, Lmod and every kernel on one machine, with no GPUs and no Apptainer. "
            "Multi-node jobs, GPU work, containers and real queue waiting times are not exercised there, "
            "and its Slurm controller and compute node are the same machine."
        ),
        workaround=(
            "The doc CI (`nox -s examples`) re-runs every example on your centre's real kernels "
            "and partitions; an example that needs a capability the site lacks is skipped, "
            "and its page says it is not verified at this site."
        ),
        since=dt.date(2026, 11, 25),
        reviewed=dt.date(2026, 11, 25),
        see_also=("book/operate/reference-site", "book/operate/doc-ci", OPERATE),
    ),
)


def _and_list(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _languages(profile: Profile) -> str:
    return _and_list(sorted({k.language[:1].upper() + k.language[1:] for k in profile.kernels}))


def _code_list(names: Sequence[str]) -> str:
    return ", ".join(f"`{name}`" for name in names) if names else "none"


def service_limitations(profile: Profile) -> list[LimitationEntry]:
    """The limitations that follow from the profile, then the administrators' own entries."""
    since, reviewed = profile.known_limitations.since, profile.known_limitations.reviewed
    interactive, batch = profile.interactive_partition.name, profile.batch_partition.name
    entries: list[LimitationEntry] = []
    for partition in profile.partitions:
        if partition.jupyter:
            continue
        entries.append(
            LimitationEntry(
                title=f"Jupyter cannot run on the `{partition.name}` partition",
                details=(
                    f"The `{partition.name}` partition is for this: {partition.purpose} "
                    "No Jupyter server or kernel can start there."
                ),
                workaround=(
                    f"Prepare and test your work in a notebook on `{interactive}`, "
                    "then submit it as a batch script "
                    f"with `sbatch --partition={partition.name}` from a terminal or the Bash kernel."
                ),
                since=since,
                reviewed=reviewed,
                see_also=(SCOPE,),
            )
        )
    slurm_kernels = [k for k in profile.kernels if k.start == "slurm"]
    if slurm_kernels:
        described = ", ".join(
            f"`{k.name}` on `{k.partition}`" + (f" for up to {k.walltime}" if k.walltime else "")
            for k in slurm_kernels
        )
        entries.append(
            LimitationEntry(
                title="Kernels in a Slurm job wait in the queue and end with their job",
                details=(
                    f"These kernels run in a batch job of their own: {described}. "
                    "Each waits in the same queue as every batch job, "
                    "so on a busy cluster it can take a while to start, "
                    "and whatever is only in its memory is lost when the job ends."
                ),
                workaround=(
                    "Use a login-node kernel for light work while you wait, "
                    "write intermediate results to files, "
                    f"and run anything longer as a batch script on `{batch}`."
                ),
                since=since,
                reviewed=reviewed,
                see_also=("examples/recipe-batch-allocation-kernel", SCOPE),
            )
        )
    capabilities = profile.capabilities
    if not capabilities.gpu:
        entries.append(
            LimitationEntry(
                title="No GPUs",
                details="No partition has GPUs, so GPU-accelerated code runs on the CPU or not at all.",
                workaround=(
                    f"Use the CPU builds of your libraries and the `{batch}` partition for long runs; "
                    "for work that needs GPUs, ask the support team which other system can run it."
                ),
                since=since,
                reviewed=reviewed,
                see_also=(SCOPE,),
            )
        )
    if not capabilities.apptainer:
        entries.append(
            LimitationEntry(
                title="No containers",
                details="Apptainer is not installed, so a container image built elsewhere cannot run here.",
                workaround=(
                    "Rebuild the environment in a Python virtual environment or from the centre's modules, "
                    "and register it as your own kernel."
                ),
                since=since,
                reviewed=reviewed,
                see_also=("examples/recipe-venv-kernel", RECIPES),
            )
        )
    if not capabilities.conda:
        entries.append(
            LimitationEntry(
                title="No conda",
                details="conda and mamba are not installed, so an `environment.yml` cannot be used directly.",
                workaround=(
                    "Install the packages with pip into a virtual environment (`python -m venv`), "
                    "and take compiled libraries from the centre's modules."
                ),
                since=since,
                reviewed=reviewed,
                see_also=("examples/recipe-venv-kernel", RECIPES),
            )
        )
    jupyter = profile.jupyter
    if not jupyter.users_can_install_extensions:
        entries.append(
            LimitationEntry(
                title="You cannot install JupyterLab extensions",
                details=(
                    "The JupyterLab server is managed by the centre; "
                    f"the extensions installed are: {_code_list(jupyter.extensions)}."
                ),
                workaround=(
                    f"Ask for an extension on the issue tracker, <{profile.support.issue_tracker}>. "
                    "Packages that your code needs can still go into your own kernel's environment."
                ),
                since=since,
                reviewed=reviewed,
            )
        )
    proxied = "jupyter-server-proxy" in jupyter.extensions
    entries.append(
        LimitationEntry(
            title="Only some web applications open through Jupyter"
            if proxied
            else "No web applications through Jupyter",
            details=(
                "jupyter-server-proxy opens only these applications in the browser: "
                f"{_code_list(jupyter.server_proxy_allowed)}."
                if proxied
                else "jupyter-server-proxy is not installed, "
                "so web applications such as dashboards cannot open through Jupyter."
            ),
            workaround=(
                "Forward the application's port over SSH to your own computer "
                "(`ssh -L PORT:localhost:PORT` to the login node), or ask for it on the issue tracker."
            ),
            since=since,
            reviewed=reviewed,
            see_also=("book/recipes/server-proxy",),
        )
    )
    entries.extend(_from_profile(limitation) for limitation in profile.known_limitations.entries)
    return entries


def _from_profile(limitation: Limitation) -> LimitationEntry:
    return LimitationEntry(
        title=limitation.title,
        details=limitation.details,
        workaround=limitation.workaround,
        since=limitation.since,
        reviewed=limitation.reviewed,
    )


# --- The scorecard -------------------------------------------------------------------------

RATING_BADGES = {
    "yes": "{bdg-success}`Yes`",
    "partly": "{bdg-warning}`Partly`",
    "no": "{bdg-danger}`No`",
    "untested": "{bdg-dark-line}`Untested`",
    "unknown": "{bdg-light}`Not yet known`",
}
GROUPS = {
    "access": "Accessibility",
    "resources": "HPC resources",
    "docs": "Documentation",
    "custom": "Customization",
}


@dataclass(frozen=True)
class Evidence:
    """Everything the scorecard can measure from; a missing measurement is None."""

    profile: Profile
    fragments: Sequence[Fragment] = ()
    pages: frozenset[str] = frozenset()
    examples_report: dict[str, Any] | None = None
    snapshot: dict[str, Any] | None = None
    waiting_times: dict[str, Any] | None = None


@dataclass(frozen=True)
class Finding:
    """A rating, the evidence behind it in MyST inline text, and where the evidence came from."""

    rating: str
    evidence: str
    source: str


#: A measurement returns a Finding, or a sentence saying why it cannot measure yet.
Measure = Callable[[Evidence], "Finding | str"]


@dataclass(frozen=True)
class Criterion:
    id: str
    text: str
    pages: tuple[str, ...]
    measure: Measure | None = field(default=None, compare=False)

    @property
    def group(self) -> str:
        return self.id.split("-", 1)[0]


def _profile_finding(rating: str, evidence: str) -> Finding:
    return Finding(rating, evidence, "site profile")


def _defaults(evidence: Evidence) -> Finding:
    profile = evidence.profile
    ready = [k.name for k in profile.kernels if k.start in ("local", "modules")]
    interactive = profile.interactive_partition
    rating = "yes" if ready and interactive.interactive else "partly"
    text = (
        f"Kernels that start with no choices: {_code_list(ready)}. "
        f"A new user's server runs on `{interactive.name}` (up to {interactive.limits.max_walltime})."
    )
    return _profile_finding(rating, text)


def _all_partitions(evidence: Evidence) -> Finding:
    profile = evidence.profile
    reachable = profile.jupyter_partitions
    missing = [p.name for p in profile.partitions if not p.jupyter]
    total = len(profile.partitions)
    text = f"Partitions Jupyter can use: {len(reachable)} of {total}"
    text += f" (not: {_code_list(missing)})." if missing else "."
    rating = "yes" if not missing else "partly"
    source = "site profile"
    partitions = (evidence.snapshot or {}).get("partitions")
    if isinstance(partitions, dict):
        up = [
            name
            for name, p in partitions.items()
            if isinstance(p, dict) and str(p.get("state", "")).upper() == "UP"
        ]
        known = [p.name for p in profile.partitions]
        seen = [name for name in known if name in up]
        taken = evidence.snapshot.get("taken", "an unknown date")  # type: ignore[union-attr]
        text += f" The probe of {taken} saw {len(seen)} of {len(known)} up."
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
    entry = ((evidence.waiting_times or {}).get("partitions") or {}).get(partition)
    try:
        return float(entry["all"]["median_s"])
    except (TypeError, KeyError, ValueError):
        return None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


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
    period = (evidence.waiting_times.get("period") or {}) if isinstance(evidence.waiting_times, dict) else {}
    text = "Median queue wait: " + ", ".join(f"`{name}` {_duration(wait)}" for name, wait in measured.items())
    if period.get("start") and period.get("end"):
        text += f" (jobs from {str(period['start'])[:10]} to {str(period['end'])[:10]})"
    interactive_wait = measured.get(evidence.profile.interactive_partition.name, min(measured.values()))
    # A session that starts within minutes keeps a user at work; an hour sends them elsewhere.
    rating = "yes" if interactive_wait <= 5 * 60 else "partly" if interactive_wait <= 3600 else "no"
    return Finding(rating, text + ".", "waiting-time statistics")


def _plan(evidence: Evidence) -> Finding | str:
    if evidence.waiting_times is None:
        return "Not yet measured: no waiting-time statistics are published yet."
    jobs = evidence.waiting_times.get("total_jobs", "some")
    return Finding(
        "partly",
        f"Past waiting times per partition and job size are published ({jobs} jobs); there is no forecast.",
        "waiting-time statistics",
    )


def _terminal(evidence: Evidence) -> Finding:
    profile = evidence.profile
    bash = [k.name for k in profile.kernels if k.language.lower() == "bash"]
    filesystems = _code_list([f.name for f in profile.filesystems])
    if bash:
        return _profile_finding(
            "yes",
            f"JupyterLab terminals and the {_code_list(bash)} kernel run shell commands "
            "such as `sbatch` and `squeue`; "
            f"the filesystems {filesystems} are documented.",
        )
    return _profile_finding(
        "partly", f"JupyterLab terminals only, no Bash kernel; the filesystems {filesystems} are documented."
    )


def _current(evidence: Evidence) -> Finding | str:
    report = evidence.examples_report
    if report is None:
        return "Not yet measured: no doc CI report (`nox -s examples` writes `_build/reports/examples.json`)."
    summary = report.get("summary") if isinstance(report.get("summary"), dict) else {}
    passed, failed, skipped = (int(summary.get(key, 0) or 0) for key in ("passed", "failed", "skipped"))
    runs = passed + failed + skipped
    if runs == 0:
        return "Not yet measured: the last doc CI report has no example runs."
    text = f"Doc CI run of {report.get('date', 'an unknown date')}: {passed} of {runs} example runs passed"
    text += f", {failed} failed" if failed else ""
    text += f", {skipped} skipped (not verified at this site)" if skipped else ""
    rating = "yes" if failed == 0 and passed else "partly" if passed > failed else "no"
    return Finding(rating, text + ".", "doc CI report")


TRACKS = {"novice": ("book/start/", "examples/start-"), "expert": ("book/recipes/", "examples/recipe-"),
          "admin": ("book/operate/", "examples/operate-")}  # fmt: skip
TRACK_TITLES = {"novice": "getting started", "expert": "recipes", "admin": "operating the service"}


def _audiences(evidence: Evidence) -> Finding:
    counts = {
        track: sum(1 for page in evidence.pages if page.startswith(prefixes))
        for track, prefixes in TRACKS.items()
    }
    text = "Pages per track: " + ", ".join(f"{TRACK_TITLES[t]} {n}" for t, n in counts.items()) + "."
    # A track with only its index page does not serve its readers yet.
    rating = (
        "yes"
        if all(n >= 2 for n in counts.values())
        else "partly"
        if any(n >= 2 for n in counts.values())
        else "no"
    )
    return Finding(rating, text, "this handbook")


def _changes(evidence: Evidence) -> Finding:
    if not evidence.fragments:
        return Finding("no", "No changes are recorded yet.", "this handbook")
    latest = evidence.fragments[0].meta.date
    return Finding(
        "yes",
        f"{len(evidence.fragments)} changes recorded, the latest on {human_date(latest)}, "
        "with an Atom feed for everyone and one per audience.",
        "this handbook",
    )


def _ready_kernels(evidence: Evidence) -> Finding:
    profile = evidence.profile
    text = f"{len(profile.kernels)} kernels ready to use, for {_languages(profile)}."
    kernels = (evidence.snapshot or {}).get("kernels")
    if not isinstance(kernels, dict):
        return _profile_finding("yes", text)
    names = [k.name for k in profile.kernels]
    working = [n for n in names if isinstance(kernels.get(n), dict) and not kernels[n].get("error")]
    taken = evidence.snapshot.get("taken", "an unknown date")  # type: ignore[union-attr]
    text += f" The probe of {taken} started {len(working)} of {len(names)}."
    rating = "yes" if len(working) == len(names) else "partly" if working else "no"
    return Finding(rating, text, "site profile and probe snapshot")


def _any_extension(evidence: Evidence) -> Finding:
    jupyter = evidence.profile.jupyter
    if jupyter.users_can_install_extensions:
        return _profile_finding("yes", "Users can install JupyterLab extensions themselves.")
    return _profile_finding(
        "no", f"Users cannot install extensions; installed by the centre: {_code_list(jupyter.extensions)}."
    )


def _stack_mix(evidence: Evidence) -> Finding:
    module_kernels = [k for k in evidence.profile.kernels if k.start == "modules"]
    if not module_kernels:
        return _profile_finding("no", "No kernel loads the centre's modules.")
    described = "; ".join(f"`{k.name}` loads {_code_list(k.modules)}" for k in module_kernels)
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


CRITERIA = (
    Criterion(
        "access-any-platform",
        "Users reach the service from any operating system and network with only a web browser.",
        ("book/start/log-in", START, HOME),
    ),
    Criterion(
        "access-slow-network",
        "The service stays usable on slow or unreliable networks.",
        ("book/start/log-in", START, HOME),
    ),
    Criterion(
        "access-under-load",
        "Users reach the service however busy the hub and the cluster are.",
        (WAITING_TIMES_PAGE, STATUS, SCOPE),
    ),
    Criterion(
        "resources-defaults",
        "A new user can start exploring without choosing resources: sensible defaults are set.",
        ("examples/start-first-notebook", START),
        _defaults,
    ),
    Criterion(
        "resources-all-partitions",
        "Jupyter can use every partition that users can reach from a terminal, and specific nodes.",
        (SCOPE, LIMITATIONS),
        _all_partitions,
    ),
    Criterion(
        "resources-configurable",
        "Users choose the resources of a session: partition, nodes, cores, memory, GPUs and walltime.",
        ("examples/recipe-batch-allocation-kernel", SCOPE, RECIPES),
    ),
    Criterion(
        "resources-quick",
        "Substantial resources become available quickly.",
        (WAITING_TIMES_PAGE, STATUS),
        _quick,
    ),
    Criterion(
        "resources-combine-allocations",
        "One Jupyter session can combine several batch allocations.",
        ("examples/recipe-batch-allocation-kernel", "examples/recipe-dask-jobqueue", RECIPES),
        _slurm_kernels,
    ),
    Criterion(
        "resources-plan",
        "Users can plan interactive work, for example from a forecast of when resources are free.",
        (WAITING_TIMES_PAGE, STATUS),
        _plan,
    ),
    Criterion(
        "resources-terminal-tasks",
        "Terminal work such as moving data and controlling batch jobs is possible from Jupyter.",
        ("examples/recipe-batch-orchestration", "examples/start-first-batch-job", START),
        _terminal,
    ),
    Criterion(
        "docs-findable",
        "The documentation is easy to find and to open, also without logging in.",
        (HOME,),
    ),
    Criterion(
        "docs-current",
        "The documentation matches the current default state of the service.",
        ("book/operate/doc-ci", STATUS, "examples/operate-site-check", OPERATE),
        _current,
    ),
    Criterion(
        "docs-community",
        "The documentation agrees with the Jupyter community's documentation and practices.",
        (RECIPES,),
    ),
    Criterion(
        "docs-audiences",
        "The documentation serves new and experienced users alike.",
        (HOME,),
        _audiences,
    ),
    Criterion(
        "docs-changes",
        "Users can easily find out what changed in the system and in the documentation.",
        (CHANGELOG,),
        _changes,
    ),
    Criterion(
        "docs-self-service",
        "Standard work needs no help from the support team.",
        ("book/start/get-help", START),
    ),
    Criterion(
        "custom-defaults",
        "The default environments are good enough for real work.",
        (SCOPE,),
        _ready_kernels,
    ),
    Criterion(
        "custom-kernels",
        "Users can fully configure the software behind their kernels.",
        ("examples/recipe-kernel-management", "examples/recipe-venv-kernel", RECIPES),
    ),
    Criterion(
        "custom-preinstalled-extensions",
        "Users can configure the JupyterLab extensions the centre installed.",
        (LIMITATIONS,),
    ),
    Criterion(
        "custom-any-extension",
        "Users can add any extension from the Jupyter ecosystem.",
        (LIMITATIONS,),
        _any_extension,
    ),
    Criterion(
        "custom-stack-mix",
        "Users can combine their own high-level software with the centre's optimized libraries.",
        ("examples/recipe-optimized-libraries", "examples/recipe-module-kernel", RECIPES),
        _stack_mix,
    ),
    Criterion(
        "custom-portable",
        "Users can bring the software selection they use on another system.",
        ("examples/recipe-requirements-kernel", LIMITATIONS),
        _portable,
    ),
    Criterion(
        "custom-freeze",
        "Users can freeze an environment to share it or to reproduce their work later.",
        ("examples/recipe-freeze-environment", RECIPES),
    ),
)


def evaluate(criterion: Criterion, evidence: Evidence) -> Finding:
    """Rate one criterion: a measurement if there is one, else the self-assessment, else say so."""
    assessment = evidence.profile.self_assessment
    answer = assessment.answers.get(criterion.id)  # type: ignore[call-overload]
    measured = criterion.measure(evidence) if criterion.measure else None
    if isinstance(measured, Finding):
        if answer is not None:
            # The administrators' note adds context; the measurement keeps the rating.
            return Finding(measured.rating, f"{measured.evidence} {answer.note}", measured.source)
        return measured
    reviewed = f", reviewed {human_date(assessment.reviewed)}" if assessment.reviewed else ""
    if answer is not None:
        prefix = f"{measured} " if measured else ""
        return Finding(answer.rating, prefix + answer.note, f"administrators' self-assessment{reviewed}")
    return Finding("unknown", measured or "Not yet assessed by the administrators.", "")


def evaluate_all(evidence: Evidence) -> list[tuple[Criterion, Finding]]:
    return [(criterion, evaluate(criterion, evidence)) for criterion in CRITERIA]


# --- Reading the optional inputs -------------------------------------------------------------


def read_optional_json(path: Path) -> dict[str, Any] | None:
    """Read a measurement file that may not exist yet; a broken one is a warning, not a crash."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning(
            "cannot read %s (%s); the scorecard treats it as missing",
            path,
            exc,
            type="handbook",
            subtype="scorecard",
        )
        return None
    if not isinstance(data, dict):
        logger.warning(
            "%s is not a JSON object; the scorecard treats it as missing",
            path,
            type="handbook",
            subtype="scorecard",
        )
        return None
    return data


def measured_here(data: dict[str, Any] | None, profile: Profile) -> dict[str, Any] | None:
    """Drop a measurement of another site: a book built for a second profile must not show the first's."""
    if data is not None and data.get("site") not in (None, profile.site.short_name):
        return None
    return data


def optional_inputs(app: Sphinx) -> dict[str, Path]:
    root = Path(app.confdir)
    return {
        "examples_report": root / app.config.handbook_reports_dir / EXAMPLES_REPORT,
        "snapshot": root / getattr(app.config, "handbook_snapshot", DEFAULT_SNAPSHOT),
        "waiting_times": root / getattr(app.config, "handbook_waiting_times", DEFAULT_WAITING_TIMES),
    }


def _watched(env: BuildEnvironment) -> dict[str, set[str]]:
    """Per page, the optional inputs it read that did not exist; their arrival re-reads the page."""
    if not hasattr(env, "handbook_missing_inputs"):
        env.handbook_missing_inputs = {}  # type: ignore[attr-defined]
    return env.handbook_missing_inputs  # type: ignore[attr-defined]


# --- Directives ----------------------------------------------------------------------------------


class GeneratedMyST(SphinxDirective):
    """Base for directives that render generated MyST, so roles, badges and links work as in a page."""

    has_content = False

    def markdown(self, profile: Profile) -> list[str]:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(self.env.app.handbook_profile_path))  # type: ignore[attr-defined]
        lines = self.markdown(get_profile(self.env.app))
        container = nodes.container(classes=["handbook-generated"])
        self.state.nested_parse(StringList(lines, source="site profile"), self.content_offset, container)
        return list(container.children)

    def page(self, candidates: Sequence[str]) -> str:
        """A link to the first candidate page that is in this book."""
        found = self.env.found_docs
        docname = next((c for c in candidates if c in found), next(iter(candidates)))
        return f"{{doc}}`/{docname}`"


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, widths: str = "auto", css: str = ""
) -> list[str]:
    lines = ["````{list-table}", ":header-rows: 1", f":widths: {widths}"]
    if css:
        lines.append(f":class: {css}")
    lines.append("")
    for row in [header, *rows]:
        lines.append(f"* - {row[0]}")
        lines.extend(f"  - {cell}" for cell in row[1:])
    lines.append("````")
    return lines


class UseCases(GeneratedMyST):
    """What people use Jupyter at an HPC centre for, and whether this site supports each use."""

    def markdown(self, profile: Profile) -> list[str]:
        languages = _languages(profile)
        shared = [f for f in profile.filesystems if "$PROJECT" in f.path]
        bash = any(k.language.lower() == "bash" for k in profile.kernels)
        interactive, batch = profile.interactive_partition.name, profile.batch_partition.name
        gpu_partitions = [p for p in profile.partitions if p.limits.gpus_per_node > 0]
        gpus_in_jupyter = [p.name for p in gpu_partitions if p.jupyter]
        if gpus_in_jupyter:
            gpu_row = ["yes", f"GPU partitions: {_code_list(gpus_in_jupyter)}."]
        elif gpu_partitions:
            names = _code_list([p.name for p in gpu_partitions])
            gpu_row = [
                "partly",
                f"Jupyter cannot reach the GPU partitions ({names}); submit batch scripts there.",
            ]
        else:
            gpu_row = ["**no**", f"This site has no GPUs; see {self.page((LIMITATIONS,))}."]
        rows = [
            [
                "Exploring, analysing and plotting data next to where it is stored",
                "yes",
                f"Kernels for {languages}.",
            ],
            [
                "Developing and testing code before running it at scale",
                "yes",
                f"Test on `{interactive}`, then run the same code as a batch job on `{batch}`.",
            ],
            [
                "Sharing notebooks and environments with your project",
                "yes" if shared else "partly",
                f"Keep them in `{shared[0].path}`."
                if shared
                else "There is no shared project filesystem; use a Git repository.",
            ],
            ["Machine learning on GPUs", *gpu_row],
            [
                "Managing data and batch jobs",
                "yes",
                "From a JupyterLab terminal" + (" or the Bash kernel." if bash else "."),
            ],
        ]
        return _table(["Use", f"At {profile.site.short_name}", "How"], rows, widths="40 12 48")


class WhereToRun(GeneratedMyST):
    """Which work belongs on the login node and on each partition, and how to get it there."""

    def markdown(self, profile: Profile) -> list[str]:
        login_kernels = [k.name for k in profile.kernels if k.start in ("local", "modules")]
        rows = [
            [
                "Editing notebooks, small tests, plots of small data, submitting and watching jobs",
                "Login node, shared with every user",
                f"Any of the kernels {_code_list(login_kernels)}. "
                "Keep it light: no long or parallel computations.",
            ]
        ]
        for partition in profile.partitions:
            limits = partition.limits
            where = (
                f"`{partition.name}` partition: up to {limits.max_nodes} node(s), "
                f"{limits.max_walltime}, {limits.memory_per_node_gb} GB per node"
                + (f", {limits.gpus_per_node} GPUs per node" if limits.gpus_per_node else "")
            )
            kernels = [k.name for k in profile.kernels if k.partition == partition.name]
            if not partition.jupyter:
                how = f"Batch scripts only (`sbatch --partition={partition.name} job.sh`); no Jupyter."
            elif partition.interactive:
                how = (
                    "Run your Jupyter server there, "
                    f"or open a shell with `srun --partition={partition.name} --pty bash`."
                )
            else:
                how = f"Submit with `sbatch --partition={partition.name} job.sh`"
                how += (
                    f", or use the kernel {_code_list(kernels)}, which runs in its own job there."
                    if kernels
                    else "."
                )
            rows.append([partition.purpose, where, how])
        return _table(["Work", "Where", "How"], rows, widths="35 30 35")


def _date(date: dt.date | None, *, missing: str) -> str:
    return human_date(date) if date else missing


class LimitationsList(SphinxDirective):
    """The known limitations, each with what to do instead and its dates.

    `service` lists the site's (from the profile and `known_limitations`); `handbook` the handbook's own.
    """

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(self.env.app.handbook_profile_path))  # type: ignore[attr-defined]
        group = self.arguments[0]
        if group not in ("service", "handbook"):
            raise self.error("expected the argument 'service' or 'handbook'")
        profile = get_profile(self.env.app)
        entries = service_limitations(profile) if group == "service" else list(HANDBOOK_LIMITATIONS)
        lines: list[str] = []
        for entry in entries:
            footer = (
                f"Noted {_date(entry.since, missing='(date not recorded)')} · "
                f"last reviewed {_date(entry.reviewed, missing='not yet')}"
            )
            see = next((page for page in entry.see_also if page in self.env.found_docs), None)
            if see:
                footer += f" · see {{doc}}`/{see}`"
            lines += [
                # Tildes, because a backtick fence's info string cannot hold the title's `code`.
                "~~~~{card} " + entry.title,
                ":class-card: handbook-limitation",
                "",
                entry.details,
                "",
                f"**What to do instead:** {entry.workaround}",
                "",
                # A plain paragraph, not a card footer: sphinx-design versions differ in footer syntax.
                f"*{footer}*",
                "~~~~",
                "",
            ]
        container = nodes.container(classes=["handbook-limitations"])
        self.state.nested_parse(StringList(lines, source="site profile"), self.content_offset, container)
        return [container]


class LimitationsReviewed(SphinxDirective):
    """One sentence saying when the administrators last reviewed the limitations page as a whole."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(self.env.app.handbook_profile_path))  # type: ignore[attr-defined]
        profile = get_profile(self.env.app)
        reviewed = profile.known_limitations.reviewed
        if reviewed:
            text = (
                f"The administrators of {profile.site.short_name} "
                f"last reviewed this page as a whole on {human_date(reviewed)}."
            )
        else:
            text = (
                f"The administrators of {profile.site.short_name} have not yet reviewed this page as a whole."
            )
        return [nodes.paragraph(text=text, classes=["handbook-reviewed"])]


class _ScorecardDirective(GeneratedMyST):
    def evidence(self, profile: Profile) -> Evidence:
        app = self.env.app
        data: dict[str, Any] = {}
        missing = _watched(self.env).setdefault(self.env.docname, set())
        for name, path in optional_inputs(app).items():
            if path.is_file():
                self.env.note_dependency(str(path))
            else:
                missing.add(str(path))
            data[name] = measured_here(read_optional_json(path), profile)
        # The changelog criterion counts fragments: re-read this page when one is added.
        _changelog_docs(self.env).setdefault(self.env.docname, set()).add("scorecard")
        fragments = loaded_fragments(app)
        for fragment in fragments:
            self.env.note_dependency(
                str(Path(app.confdir) / app.config.handbook_changelog_dir / fragment.filename)
            )
        return Evidence(profile=profile, fragments=fragments, pages=frozenset(self.env.found_docs), **data)


class Scorecard(_ScorecardDirective):
    """One group of the scorecard: each criterion with its rating, evidence, source and page."""

    required_arguments = 1
    option_spec: ClassVar[dict[str, Any]] = {}

    def markdown(self, profile: Profile) -> list[str]:
        group = self.arguments[0]
        if group not in GROUPS:
            raise self.error(f"expected one of {', '.join(GROUPS)}, got {group!r}")
        rows = []
        for criterion, finding in evaluate_all(self.evidence(profile)):
            if criterion.group != group:
                continue
            rows.append(
                [
                    criterion.text,
                    RATING_BADGES[finding.rating],
                    finding.evidence + (f" *Source: {finding.source}.*" if finding.source else ""),
                    self.page(criterion.pages),
                ]
            )
        return _table(
            ["Criterion", "Rating", "Evidence", "Addressed in"],
            rows,
            widths="30 12 40 18",
            css="handbook-scorecard",
        )


class ScorecardSummary(_ScorecardDirective):
    """How many criteria of each group are met, partly met, not met or not yet known."""

    def markdown(self, profile: Profile) -> list[str]:
        findings = evaluate_all(self.evidence(profile))
        columns = ("yes", "partly", "no", "untested", "unknown")
        rows = []
        for group, title in GROUPS.items():
            ratings = [f.rating for c, f in findings if c.group == group]
            rows.append([title, *(str(ratings.count(r)) for r in columns)])
        totals = [f.rating for _, f in findings]
        rows.append(["**All**", *(f"**{totals.count(r)}**" for r in columns)])
        header = ["Group", RATING_BADGES["yes"], RATING_BADGES["partly"], RATING_BADGES["no"],
                  RATING_BADGES["untested"], RATING_BADGES["unknown"]]  # fmt: skip
        reviewed = profile.self_assessment.reviewed
        note = (
            f"The administrators' self-assessment was last reviewed on {human_date(reviewed)}."
            if reviewed
            else "The administrators have not yet reviewed a self-assessment."
        )
        return [*_table(header, rows, css="handbook-scorecard-summary"), "", note]


def mark_outdated_scorecards(
    app: Sphinx, env: BuildEnvironment, added: set[str], changed: set[str], removed: set[str]
) -> list[str]:
    """Re-read a scorecard when a missing input appears, or when pages are added or removed."""
    outdated = set()
    for docname, paths in _watched(env).items():
        if docname not in removed and any(Path(path).is_file() for path in paths):
            outdated.add(docname)
    if added or removed:
        outdated.update(
            doc for doc, kinds in _changelog_docs(env).items() if "scorecard" in kinds and doc not in removed
        )
    return sorted(outdated)


def purge_doc(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    _watched(env).pop(docname, None)


def merge_info(app: Sphinx, env: BuildEnvironment, docnames: set[str], other: BuildEnvironment) -> None:
    for docname, paths in _watched(other).items():
        if docname in docnames:
            _watched(env).setdefault(docname, set()).update(paths)


def setup_scorecard(app: Sphinx) -> None:
    app.add_directive("site-use-cases", UseCases)
    app.add_directive("site-where-to-run", WhereToRun)
    app.add_directive("site-limitations", LimitationsList)
    app.add_directive("site-limitations-reviewed", LimitationsReviewed)
    app.add_directive("service-scorecard", Scorecard)
    app.add_directive("service-scorecard-summary", ScorecardSummary)
    app.connect("env-get-outdated", mark_outdated_scorecards)
    app.connect("env-purge-doc", purge_doc)
    app.connect("env-merge-info", merge_info)
