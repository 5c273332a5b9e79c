"""What the hub's spawn form offers and checks: the places a server can run, the environments it
can start in, and checking what users ask (from the form or the REST API); `spawn_form` draws it.

This module uses the standard library alone: `site up` copies it next to the hub's
configuration, where the hub imports it, and the tests import it from the package.
Options beyond a place's limits are refused here, before anything is queued.
"""

from __future__ import annotations

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
