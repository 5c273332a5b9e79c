"""The limitations page: what the service cannot do, what to do instead, and since when.

Most entries follow from the profile (partitions Jupyter cannot reach, missing capabilities,
the extension policy); the administrators add their own in `known_limitations`, and the
handbook states its own limits. The wording is in `data/limitations.yml`; this module
decides which entries hold at this site and fills them in from the profile.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from hpc_handbook.book.changelog_pages import human_date
from hpc_handbook.book.generated import GeneratedMyST, choice_argument, code_list, profile_of, wording
from hpc_handbook.book.network_text import link_values, poor_link
from hpc_handbook.book.network_text import texts as network_texts
from hpc_handbook.book.site_facts import vocabulary_of
from hpc_handbook.book.tables import read_data
from hpc_handbook.data.service_measurements import load_service_measurements
from hpc_handbook.profile import Limitation, Profile, Project
from hpc_handbook.site_facts import Vocabulary


@dataclass(frozen=True, kw_only=True)
class LimitationEntry:
    """One limitation as the page shows it; dates are None when the profile does not record them."""

    title: str
    details: str
    workaround: str
    since: dt.date | None
    reviewed: dt.date | None
    #: Pages with more on it, best first; the first one in the book is linked.
    see_also: tuple[str, ...] = ()
    #: True for a limitation that follows from the profile and the probe: it holds as long as they
    #: say so, so it has no date of its own.
    derived: bool = False


def handbook_limitations() -> list[LimitationEntry]:
    """The handbook's own limits, the same for every centre."""
    return [
        LimitationEntry(
            title=entry["title"],
            details=entry["details"],
            workaround=entry["workaround"],
            since=entry["since"],
            reviewed=entry["reviewed"],
            see_also=tuple(entry.get("see_also", ())),
        )
        for entry in wording("limitations.yml")["handbook"]
    ]


def _service_entry(key: str, profile: Profile, **values: Any) -> LimitationEntry:
    """Fill in one of the wording file's service limitations with values from the profile."""
    texts = wording("limitations.yml")["service"][key]
    return LimitationEntry(
        title=texts["title"].format(**values),
        details=texts["details"].format(**values),
        workaround=texts["workaround"].format(**values),
        since=None,
        reviewed=profile.known_limitations.reviewed,
        see_also=tuple(texts.get("see_also", ())),
        derived=True,
    )


def service_limitations(vocabulary: Vocabulary) -> list[LimitationEntry]:
    """The limitations that follow from the profile and the probe, then the administrators' own entries."""
    profile = vocabulary.profile
    interactive, batch = profile.interactive_partition.name, profile.batch_partition.name
    entries = [
        _service_entry(
            "no-jupyter-partition",
            profile,
            partition=partition.name,
            purpose=partition.purpose,
            interactive=interactive,
        )
        for partition in profile.partitions
        if not partition.jupyter
    ]
    slurm_kernels = [k for k in profile.kernels if k.start == "slurm"]
    if slurm_kernels:
        described = ", ".join(
            f"`{k.name}` on `{k.partition}`" + (f" for up to {k.walltime}" if k.walltime else "")
            for k in slurm_kernels
        )
        entries.append(_service_entry("slurm-kernels", profile, kernels=described, batch=batch))
    capabilities = profile.capabilities
    gpu_partitions = [p.name for p in profile.partitions if p.limits.gpus_per_node > 0]
    if gpu_partitions and not capabilities.gpu:
        # Slurm hands out GPUs there, but no GPU code runs: say so rather than "no GPUs".
        entries.append(_service_entry("gpus-scheduled-only", profile, partitions=code_list(gpu_partitions)))
    container_kernels = [k for k in profile.kernels if k.start == "container"]
    for missing, key in (
        (not capabilities.gpu and not gpu_partitions, "no-gpu"),
        (not capabilities.apptainer and not container_kernels, "no-apptainer"),
        (not capabilities.apptainer and bool(container_kernels), "site-images-only"),
        (not capabilities.conda, "no-conda"),
    ):
        if missing:
            entries.append(
                _service_entry(
                    key,
                    profile,
                    batch=batch,
                    images=code_list([c.reference for c in profile.containers]),
                    kernels=code_list([k.name for k in container_kernels]),
                )
            )
    entries += _planning_limitations(profile)
    entries += _jupyter_limitations(vocabulary)
    entries.extend(_from_profile(limitation) for limitation in profile.known_limitations.entries)
    return entries


def _planning_limitations(profile: Profile) -> list[LimitationEntry]:
    """What users meet planning a session: projects' limits, the forecast, the pages' launch links."""
    entries = [
        _service_entry("project-limits", profile, project=project.name, limits=_limits_text(project))
        for project in profile.projects
        if project.limits.max_cpus or project.limits.max_walltime
    ]
    if profile.jupyter_partitions:
        partitions = code_list([p.name for p in profile.jupyter_partitions])
        entries.append(_service_entry("forecast-estimate", profile, partitions=partitions))
    entries.append(
        _service_entry(
            "launch-links",
            profile,
            environment=profile.jupyter.default_environment.label,
            branch=f"`{profile.site.repository_branch}`",
        )
    )
    return entries


def _limits_text(project: Project) -> str:
    limits = [f"{project.limits.max_cpus} CPUs at once"] if project.limits.max_cpus else []
    limits += [f"a time limit of {project.limits.max_walltime}"] if project.limits.max_walltime else []
    return " and ".join(limits)


def _jupyter_limitations(vocabulary: Vocabulary) -> list[LimitationEntry]:
    """Extensions, the server proxy and idle servers, from what users' servers really have (as
    probed from one of them; the profile's word until then)."""
    profile = vocabulary.profile
    jupyter = profile.jupyter
    extensions = vocabulary.extensions
    listed = code_list(extensions) if extensions else "none"
    entries = []
    own = jupyter.own_environment
    if not jupyter.users_can_install_extensions and own is None:
        tracker = profile.support.issue_tracker
        entries.append(
            _service_entry("managed-extensions", profile, extensions=listed, issue_tracker=tracker)
        )
    elif not jupyter.users_can_install_extensions and own is not None:
        # Not in the centre's environments, but in their own JupyterLab, started from their script.
        entries.append(_service_entry("own-extensions", profile, extensions=listed, script=f"~/{own.script}"))
    if jupyter.idle_timeout_minutes is not None:
        entries.append(_service_entry("idle-servers", profile, minutes=jupyter.idle_timeout_minutes))
    apps = vocabulary.proxy_apps
    proxy = "server-proxy" if "jupyter-server-proxy" in extensions else "no-server-proxy"
    entries.append(_service_entry(proxy, profile, allowed=code_list(apps) if apps else "none"))
    return entries


def _from_profile(limitation: Limitation) -> LimitationEntry:
    return LimitationEntry(
        title=limitation.title,
        details=limitation.details,
        workaround=limitation.workaround,
        since=limitation.since,
        reviewed=limitation.reviewed,
    )


def _date(date: dt.date | None, *, missing: str) -> str:
    return human_date(date) if date else missing


class LimitationsList(GeneratedMyST):
    """The known limitations, each with what to do instead and its dates.

    `service` lists the site's (from the profile and `known_limitations`); `handbook` the handbook's own.
    """

    required_arguments = 1
    container_class = "handbook-limitations"
    GROUPS = ("service", "handbook")

    def run(self) -> list[nodes.Node]:
        self.group = choice_argument(self, self.GROUPS, subtype="limitations")
        return super().run() if self.group else []

    def markdown(self, profile: Profile) -> list[str]:
        entries = (
            service_limitations(vocabulary_of(self.env)) + self._measured(profile)
            if self.group == "service"
            else handbook_limitations()
        )
        lines: list[str] = []
        for entry in entries:
            if entry.derived:
                footer = (
                    "Follows from the site as its profile and the last probe describe it · "
                    f"page last reviewed {_date(entry.reviewed, missing='not yet')}"
                )
            else:
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
        return lines

    def _measured(self, profile: Profile) -> list[LimitationEntry]:
        """What the bench measured that users must know: the service over a poor connection."""
        measured = read_data(self, "handbook_service_measurements", load_service_measurements, "nox -s bench")
        poor = poor_link(
            measured if measured is not None and measured.site == profile.site.short_name else None
        )
        if measured is None or poor is None:
            return []
        texts = network_texts()["limitation"]
        values = {**link_values(poor), "date": human_date(dt.date.fromisoformat(measured.date))}
        return [
            LimitationEntry(
                title=texts["title"].format(**values),
                details=texts["details"].format(**values),
                workaround=texts["workaround"].format(**values),
                since=dt.date.fromisoformat(measured.date),
                reviewed=profile.known_limitations.reviewed,
                see_also=("book/start/log-in",),
            )
        ]


class LimitationsReviewed(SphinxDirective):
    """One sentence saying when the administrators last reviewed the limitations page as a whole."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        profile = profile_of(self)
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


def setup_limitations(app: Sphinx) -> None:
    app.add_directive("site-limitations", LimitationsList)
    app.add_directive("site-limitations-reviewed", LimitationsReviewed)
