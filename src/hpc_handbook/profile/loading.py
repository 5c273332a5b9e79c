"""Load a site profile: YAML, then the schema, then the cross-checks; each bad key named once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from hpc_handbook.errors import HandbookInputError, HandbookInputErrors
from hpc_handbook.profile.checks import cross_check
from hpc_handbook.profile.models import DEFAULT_PROFILE, PROFILE_ENV_VAR, Profile


def _key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _describe(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key; check its spelling against the schema"
    got = error.get("input")
    shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
    return f"expected {error['msg'].removeprefix('Value error, ').lower()}, got {shown}"


def parse_profile(data: Any, *, file: str | Path) -> Profile:
    """Validate already-parsed profile data; raise HandbookInputError naming each bad key."""
    file = Path(file)
    if not isinstance(data, dict):
        raise HandbookInputError(file, "", f"expected a mapping at the top level, got {type(data).__name__}")
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        errors = [
            HandbookInputError(file, _key_path(tuple(error["loc"])), _describe(error))
            for error in exc.errors()
        ]
        raise HandbookInputErrors(errors) from None
    errors = cross_check(profile, file)
    if errors:
        raise HandbookInputErrors(errors)
    return profile


def profile_file(path: str | Path | None = None) -> Path:
    """Which profile a command reads: the one given, else $HANDBOOK_SITE, else ./site.yml."""
    return Path(path or os.environ.get(PROFILE_ENV_VAR) or DEFAULT_PROFILE)


def load_profile(path: str | Path | None = None) -> Profile:
    """Load and validate a site profile; the default is $HANDBOOK_SITE, then ./site.yml."""
    file = profile_file(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise HandbookInputError(file, "", f"cannot read the site profile ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise HandbookInputError(file, where, f"expected valid YAML: {problem}") from None
    return parse_profile(data, file=file)
