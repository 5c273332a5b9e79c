"""What the hub asks Slurm for its spawn form, and how it reads the answers.

Each partition's idle CPUs (`sinfo`), the projects a user may charge with their limits
(`sacctmgr`), and Slurm's own reason when it refuses a job. Like `spawn_options`, this module
uses the standard library alone: `site up` copies it next to the hub's configuration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: How `idle_cpus` asks Slurm: each partition's name, whether it is up, and its CPUs as
#: allocated/idle/other/total.
SINFO_IDLE_CPUS = ("sinfo", "--noheader", "--format=%R %a %C")


def idle_cpus(sinfo_output: str) -> dict[str, tuple[int, int]]:
    """Each partition's idle and total CPUs, from the output of `SINFO_IDLE_CPUS`."""
    found: dict[str, tuple[int, int]] = {}
    for line in sinfo_output.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[2].count("/") != 3:
            continue
        _allocated, idle, _other, total = parts[2].split("/")
        if idle.isdigit() and total.isdigit():
            old_idle, old_total = found.get(parts[0], (0, 0))
            found[parts[0]] = (old_idle + int(idle), old_total + int(total))
    return found


def partitions_down(sinfo_output: str) -> set[str]:
    """The partitions that are not up (down, drained or inactive), from `SINFO_IDLE_CPUS`' output."""
    return {
        parts[0] for line in sinfo_output.splitlines() if len(parts := line.split()) == 3 and parts[1] != "up"
    }


@dataclass(frozen=True)
class Project:
    """A project (Slurm account) a user may charge their server's job to, with its limits."""

    name: str
    #: CPUs the project's running jobs may hold at once (GrpTRES=cpu); None: no limit.
    max_cpus: int | None = None
    #: The longest time limit one job may ask for (MaxWall), as D-HH:MM:SS or HH:MM:SS; None: none.
    max_walltime: str | None = None

    def limits_text(self) -> str:
        limits = [f"up to {self.max_cpus} CPUs at once"] if self.max_cpus else []
        limits += [f"jobs up to {self.max_walltime}"] if self.max_walltime else []
        return f"{self.name}: {', '.join(limits) or 'no limits beyond the partitions'}"


#: How the hub asks Slurm's accounting for projects: every association with its project, user and limits.
SACCTMGR_ASSOCIATIONS = (
    "sacctmgr", "--noheader", "--parsable2", "show", "association", "format=account,user,grptres,maxwall",
)  # fmt: skip
#: And for each user's default project.
SACCTMGR_DEFAULT_PROJECTS = (
    "sacctmgr",
    "--noheader",
    "--parsable2",
    "show",
    "user",
    "format=user,defaultaccount",
)


def _sacctmgr_walltime(value: str) -> str | None:
    """sacctmgr's MaxWall ("02:00:00", "1-00:00:00", "30:00") as [D-]HH:MM:SS; None when unset."""
    if not value:
        return None
    days, _, clock = value.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    hours, minutes, seconds = ([0] * (3 - len(parts)) + parts)[-3:]
    return (f"{days}-" if days else "") + f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def user_projects(associations: str, default_projects: str, user: str) -> list[Project]:
    """The projects `user` may charge, their default first, from `SACCTMGR_ASSOCIATIONS` and
    `SACCTMGR_DEFAULT_PROJECTS` output. A user row inherits its project's limits."""
    limits: dict[str, tuple[int | None, str | None]] = {}
    member_of: list[str] = []
    for line in associations.splitlines():
        fields = line.split("|")
        if len(fields) != 4:
            continue
        account, who, grp_tres, max_wall = fields
        if not who:
            cpus = re.search(r"(?:^|,)cpu=(\d+)", grp_tres)
            limits[account] = (int(cpus.group(1)) if cpus else None, _sacctmgr_walltime(max_wall))
        elif who == user and account not in member_of:
            member_of.append(account)
    default = next(
        (line.split("|")[1] for line in default_projects.splitlines() if line.split("|")[0] == user), None
    )
    if default in member_of:
        member_of.remove(default)
        member_of.insert(0, default)
    return [Project(name, *limits.get(name, (None, None))) for name in member_of]


def slurm_refusal(message: str) -> str | None:
    """Slurm's own words, when a failed submission's message has them (`sbatch: error: ...`)."""
    said = re.findall(r"\b(?:sbatch|srun|salloc): error: ([^\n]+)", message)
    # "Batch job submission failed:" repeats what every refusal says; the reason follows it.
    reasons = [line.removeprefix("Batch job submission failed:").strip() for line in said]
    return "; ".join(dict.fromkeys(reason for reason in reasons if reason)) or None
