"""Site facts about projects, the Slurm accounts jobs are charged to: `project names`,
`project NAME ATTRIBUTE`, `project limited ATTRIBUTE` (the first project with a limit of its own)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hpc_handbook.profile import Project
from hpc_handbook.site_facts.errors import FactAbsent, UnknownFact, choices_text
from hpc_handbook.site_facts.vocabulary import Vocabulary

PROJECT_ATTRIBUTES: dict[str, Callable[[Project], Any]] = {
    "name": lambda p: p.name,
    "description": lambda p: p.description,
    "max_cpus": lambda p: p.limits.max_cpus,
    "max_walltime": lambda p: p.limits.max_walltime,
}


def project_fact(vocabulary: Vocabulary, words: list[str]) -> tuple[Any, tuple[str, ...]]:
    """`project names`; `project NAME|limited ATTRIBUTE` (limited: the first project with a limit)."""
    projects = vocabulary.profile.projects
    if words == ["names"]:
        return [p.name for p in projects], ()
    if len(words) != 2 or words[1] not in PROJECT_ATTRIBUTES:
        raise UnknownFact(
            f"`project` takes names, or NAME|limited and one of {', '.join(PROJECT_ATTRIBUTES)}"
        )
    if words[0] == "limited":
        project = next((p for p in projects if p.limits.max_cpus or p.limits.max_walltime), None)
        if project is None:
            raise FactAbsent("no project at this site has limits of its own")
    else:
        project = next((p for p in projects if p.name == words[0]), None)
        if project is None:
            raise UnknownFact(choices_text(f"no project {words[0]!r}", [p.name for p in projects]))
    value = PROJECT_ATTRIBUTES[words[1]](project)
    if value is None:
        raise FactAbsent(f"project {project.name} has no {words[1]} of its own")
    return value, ()
