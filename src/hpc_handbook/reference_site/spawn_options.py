"""The hub's spawn form: the places a server can run, the environments it can start in, the form
itself, and checking what users ask.

This module uses the standard library alone: `site up` copies it next to the hub's
configuration, where the hub imports it, and the tests import it from the package.
Options beyond a place's limits are refused here, before anything is queued.
"""

from __future__ import annotations

import html
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Only for the type: the hub imports this module beside a copy of slurm_answers of another name.
    from hpc_handbook.reference_site.slurm_answers import Project

#: The key of the place that is not a partition: the login node, where no job is queued.
LOGIN_NODE = "login"
WALLTIME = re.compile(r"^(?:(\d+)-)?(\d{1,2}):(\d{2}):(\d{2})$")
#: Set by the form's own fields: an extra #SBATCH line may not set them a second time.
FORM_SBATCH_OPTIONS = (
    "--partition", "-p", "--time", "-t", "--nodes", "-N", "--cpus-per-task", "-c", "--account", "-A",
)  # fmt: skip
OPTION_NAMES = ("place", "environment", "project", "walltime", "nodes", "cpus", "extra_sbatch")
MAX_EXTRA_LINES = 10


class SpawnOptionError(ValueError):
    """A spawn option the site cannot grant; the message names the option and the limit."""


@dataclass(frozen=True)
class Place:
    """Where a server can run: the login node, or a partition with its limits."""

    key: str
    label: str
    partition: str | None
    max_walltime: str
    max_nodes: int
    max_cpus: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Place:
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Environment:
    """A JupyterLab environment a server can start in, or the user's own start-up script (`own`)."""

    key: str
    label: str
    #: The folder with its `jupyterhub-singleuser` and `batchspawner-singleuser`.
    bin: str
    #: Where in the home its JupyterLab keeps settings and workspaces apart from the others'; None:
    #: JupyterLab's own default (the user's own environment).
    settings: str | None = None
    #: For the user's own environment: the start-up script, relative to the home.
    script: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Environment:
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def walltime_seconds(value: str) -> int:
    match = WALLTIME.match(value.strip())
    if match is None:
        raise SpawnOptionError(f"walltime {value!r}: expected HH:MM:SS or D-HH:MM:SS")
    days, hours, minutes, seconds = (int(group or 0) for group in match.groups())
    if minutes > 59 or seconds > 59:
        raise SpawnOptionError(f"walltime {value!r}: minutes and seconds go up to 59")
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _field(label: str, name: str, control: str, hint: str) -> str:
    return (
        f'<div class="form-group">\n<label for="{name}">{html.escape(label)}</label>\n{control}\n'
        f'<small class="form-text text-muted" id="{name}-hint">{html.escape(hint)}</small>\n</div>'
    )


def _options(choices: list[tuple[str, str]]) -> str:
    return "\n".join(
        f'<option value="{html.escape(key)}"{" selected" if i == 0 else ""}>{html.escape(label)}</option>'
        for i, (key, label) in enumerate(choices)
    )


def _environment_field(environments: list[Environment]) -> str:
    own = next((e for e in environments if e.script is not None), None)
    hint = "The first is the current JupyterLab; an earlier one keeps its own settings, for kernels and "
    hint += "extensions that need it."
    if own is not None:
        hint += f" Your own: the script ~/{own.script} starts your server from an environment you installed."
    return _field(
        "JupyterLab environment",
        "environment",
        '<select class="form-control" id="environment" name="environment" '
        'aria-describedby="environment-hint">\n'
        f"{_options([(e.key, e.label) for e in environments])}\n</select>",
        hint,
    )


def _project_field(projects: list[Project]) -> str:
    return _field(
        "Project",
        "project",
        '<select class="form-control" id="project" name="project" aria-describedby="project-hint">\n'
        f"{_options([(p.name, p.name) for p in projects])}\n</select>",
        "The project your server's job is charged to (partitions only); the first is your default. "
        + "; ".join(p.limits_text() for p in projects)
        + ".",
    )


def _idle_hint(places: list[Place], idle: dict[str, tuple[int, int]] | None) -> str:
    """What is free on each partition now (jupyterhub-moss shows the same on its form); '' when not asked."""
    if idle is None:
        return ""
    partitions = [p.partition for p in places if p.partition is not None]
    if not idle:
        return " Idle CPUs now: unknown, Slurm did not answer."
    counts = ", ".join(
        f"{name} {idle[name][0]} of {idle[name][1]}" if name in idle else f"{name} unknown"
        for name in partitions
    )
    return f" Idle CPUs now: {counts}."


def _place_field(places: list[Place], idle: dict[str, tuple[int, int]] | None) -> str:
    return _field(
        "Where your server runs",
        "place",
        f'<select class="form-control" id="place" name="place" aria-describedby="place-hint">\n'
        f"{_options([(p.key, p.label) for p in places])}\n</select>",
        "The login node starts at once; a partition queues your server as a Slurm job."
        + _idle_hint(places, idle),
    )


def form_html(
    places: list[Place],
    environments: list[Environment] | None = None,
    default_walltime: str = "01:00:00",
    idle: dict[str, tuple[int, int]] | None = None,
    projects: list[Project] | None = None,
) -> str:
    """The spawn form: where the server runs, in which environment, walltime, nodes, CPUs and extra
    #SBATCH lines; with `idle` (see `idle_cpus`), what each partition has free now; with more than
    one of `projects` (see `user_projects`), which project the job is charged to."""
    limits = "; ".join(
        f"{p.partition}: up to {p.max_walltime}, {p.max_nodes} node(s), {p.max_cpus} CPUs per node"
        for p in places
        if p.partition is not None
    )
    max_nodes = max(p.max_nodes for p in places)
    max_cpus = max(p.max_cpus for p in places)
    return "\n".join(
        [
            _place_field(places, idle),
            *([_environment_field(environments)] if environments and len(environments) > 1 else []),
            *([_project_field(projects)] if projects and len(projects) > 1 else []),
            _field(
                "Walltime (HH:MM:SS)",
                "walltime",
                f'<input class="form-control" id="walltime" name="walltime" value="{default_walltime}" '
                'pattern="(\\d+-)?\\d{1,2}:\\d{2}:\\d{2}" aria-describedby="walltime-hint">',
                f"Limits per partition: {limits}.",
            ),
            _field(
                "Nodes",
                "nodes",
                f'<input class="form-control" id="nodes" name="nodes" type="number" min="1" '
                f'max="{max_nodes}" value="1" aria-describedby="nodes-hint">',
                "Nodes of the job that runs your server (partitions only).",
            ),
            _field(
                "CPUs",
                "cpus",
                f'<input class="form-control" id="cpus" name="cpus" type="number" min="1" '
                f'max="{max_cpus}" value="1" aria-describedby="cpus-hint">',
                "CPUs for your server and its kernels (partitions only).",
            ),
            _field(
                "Extra #SBATCH lines (experts)",
                "extra_sbatch",
                '<textarea class="form-control" id="extra_sbatch" name="extra_sbatch" rows="3" '
                'placeholder="#SBATCH --mail-type=END" aria-describedby="extra_sbatch-hint"></textarea>',
                "One #SBATCH line each, as in a batch script; the fields above set partition, time, "
                "nodes and CPUs.",
            ),
        ]
    )


def _first(formdata: dict[str, list[str]], key: str, default: str = "") -> str:
    values = formdata.get(key) or [default]
    return values[0].strip()


def options_from_form(formdata: dict[str, list[str]]) -> dict[str, Any]:
    """The submitted form as user options (checked later by `check_options`, as API requests are)."""
    return {
        "place": _first(formdata, "place"),
        **({"environment": _first(formdata, "environment")} if "environment" in formdata else {}),
        **({"project": _first(formdata, "project")} if "project" in formdata else {}),
        "walltime": _first(formdata, "walltime", "01:00:00"),
        "nodes": _first(formdata, "nodes", "1"),
        "cpus": _first(formdata, "cpus", "1"),
        "extra_sbatch": _first(formdata, "extra_sbatch"),
    }


def _count(options: dict[str, Any], key: str, limit: int, place: Place) -> int:
    raw = options.get(key, 1)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise SpawnOptionError(f"{key} {raw!r}: expected a whole number") from None
    if value < 1:
        raise SpawnOptionError(f"{key} {value}: expected at least 1")
    if value > limit:
        raise SpawnOptionError(f"{key} {value} is beyond partition {place.partition}'s limit of {limit}")
    return value


def _extra_lines(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > MAX_EXTRA_LINES:
        raise SpawnOptionError(f"extra_sbatch: at most {MAX_EXTRA_LINES} lines, got {len(lines)}")
    for line in lines:
        if not re.fullmatch(r"#SBATCH\s+-[-A-Za-z0-9=:,./@ _+]*", line):
            raise SpawnOptionError(
                f"extra_sbatch line {line!r}: expected '#SBATCH --option=value' "
                "(letters, digits and = : , . / @ _ + - only)"
            )
        option = line.split()[1].split("=")[0]
        if option in FORM_SBATCH_OPTIONS:
            raise SpawnOptionError(f"extra_sbatch line {line!r}: {option} is set by the form's own fields")
    return lines


def _environment(options: dict[str, Any], environments: list[Environment]) -> dict[str, str]:
    """The chosen environment's key (the first, the default, when none is asked for)."""
    if not environments:
        return {}
    key = str(options.get("environment") or environments[0].key)
    if key not in {e.key for e in environments}:
        choices = ", ".join(f"{e.key} ({e.label})" for e in environments)
        raise SpawnOptionError(f"environment {key!r}: this site offers {choices}")
    return {"environment": key}


def _project(options: dict[str, Any], projects: list[Project]) -> Project | None:
    """The chosen project (the user's default when none is asked for); None where accounting has none."""
    asked = str(options.get("project") or "")
    if not projects:
        if asked:
            raise SpawnOptionError(f"project {asked!r}: Slurm's accounting lists no project for you")
        return None
    found = next((p for p in projects if p.name == (asked or projects[0].name)), None)
    if found is None:
        raise SpawnOptionError(
            f"project {asked!r}: you are not a member; you can charge {', '.join(p.name for p in projects)}"
        )
    return found


def _check_project_limits(project: Project, walltime: str, nodes: int, cpus: int) -> None:
    """What Slurm would refuse for the project (its QOS has DenyOnLimit), refused here first."""
    if project.max_walltime and walltime_seconds(walltime) > walltime_seconds(project.max_walltime):
        raise SpawnOptionError(
            f"walltime {walltime} is beyond project {project.name}'s limit of {project.max_walltime} per job"
        )
    if project.max_cpus and nodes * cpus > project.max_cpus:
        raise SpawnOptionError(
            f"{nodes} node(s) with {cpus} CPUs each is {nodes * cpus} CPUs, beyond project "
            f"{project.name}'s limit of {project.max_cpus} CPUs at once"
        )


def check_options(
    options: dict[str, Any],
    places: list[Place],
    environments: list[Environment] | None = None,
    projects: list[Project] | None = None,
) -> dict[str, Any]:
    """Check user options (from the form or the REST API) against the places, environments and the
    user's projects (see `user_projects`; None or empty: Slurm's default); return them normalised."""
    by_key = {p.key: p for p in places}
    unknown = set(options) - set(OPTION_NAMES)
    if unknown:
        raise SpawnOptionError(
            f"unknown option(s) {', '.join(sorted(unknown))}; expected {', '.join(OPTION_NAMES)}"
        )
    key = str(options.get("place") or places[0].key)
    place = by_key.get(key)
    if place is None:
        raise SpawnOptionError(f"place {key!r}: expected one of {', '.join(by_key)}")
    environment = _environment(options, environments or [])
    project = _project(options, projects or [])
    if place.partition is None:
        if any(options.get(k) not in (None, "", "1", 1) for k in ("nodes", "cpus")) or options.get(
            "extra_sbatch"
        ):
            raise SpawnOptionError("nodes, cpus and extra_sbatch apply to partitions, not to the login node")
        return {"place": key, **environment}
    walltime = str(options.get("walltime") or "01:00:00")
    if walltime_seconds(walltime) > walltime_seconds(place.max_walltime):
        raise SpawnOptionError(
            f"walltime {walltime} is beyond partition {place.partition}'s limit of {place.max_walltime}"
        )
    if walltime_seconds(walltime) == 0:
        raise SpawnOptionError("walltime 00:00:00: expected a positive time")
    nodes = _count(options, "nodes", place.max_nodes, place)
    cpus = _count(options, "cpus", place.max_cpus, place)
    if project is not None:
        _check_project_limits(project, walltime, nodes, cpus)
    return {
        "place": key,
        **environment,
        **({"project": project.name} if project is not None else {}),
        "walltime": walltime,
        "nodes": nodes,
        "cpus": cpus,
        "extra_sbatch": _extra_lines(str(options.get("extra_sbatch") or "")),
    }
