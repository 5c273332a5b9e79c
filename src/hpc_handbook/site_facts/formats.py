"""How a value of the site reads wherever it is shown: one function per kind of value.

The status page, the drift check's messages and the changelog's entries all say memory,
a time limit and a kernel's language the same way.
"""

from __future__ import annotations

from hpc_handbook.data.snapshot import slurm_duration_seconds

#: How a reader names a kernel's language.
_LANGUAGES = {"python": "Python", "r": "R", "bash": "Bash"}


def memory_text(mb: int | None) -> str:
    """Memory as site.yml states it: whole GB where it is (`8 GB`), else to a tenth (`8.5 GB`)."""
    if mb is None:
        return "unknown"
    return f"{mb // 1024} GB" if mb % 1024 == 0 else f"{mb / 1024:.1f} GB"


def language_name(language: str) -> str:
    """A kernel's language as a reader names it: Python, R, Bash."""
    return _LANGUAGES.get(language.lower(), language or "language")


def walltime_text(value: str) -> str:
    """A time limit as site.yml and `--time` state it (`24:00:00`, where Slurm prints `1-00:00:00`)."""
    try:
        seconds = slurm_duration_seconds(value)
    except ValueError:
        return value
    if seconds is None:
        return "no limit"
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
