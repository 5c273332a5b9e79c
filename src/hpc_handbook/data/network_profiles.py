"""The network links a measurement emulates between a reader's browser and the hub (`network_profiles.yml`).

The profiles ship with the handbook, beside this module; `reference_site.network_link` emulates
each one, and a page that reports a measurement can say what the link was from its description.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

import yaml
from pydantic import ConfigDict, Field

from hpc_handbook.data.files import DataModel, read_data_text, validate_data
from hpc_handbook.errors import HandbookInputError

PROFILES_FILE = "network_profiles.yml"


class _LinkFigures(DataModel):
    """One profile as the file gives it, under its name."""

    model_config = ConfigDict(frozen=True)

    #: One line for readers: what kind of connection the profile stands for.
    description: str = Field(min_length=1)
    #: An idle link's round trip, half in each direction.
    round_trip_ms: float = Field(ge=0)
    #: The share of packets lost in each direction, each packet independently.
    loss_percent: float = Field(ge=0, le=100)
    #: The rate in each direction, in Mbit/s (1,000,000 bit/s).
    rate_mbit: float = Field(gt=0)


class LinkProfile(_LinkFigures):
    """A link's round trip, loss and rate, the same in both directions."""

    name: str


class _ProfilesFile(DataModel):
    profiles: dict[str, _LinkFigures] = Field(min_length=1)


def link_profiles(path: Path | None = None) -> dict[str, LinkProfile]:
    """The profiles by name, from `path` or the handbook's own `network_profiles.yml`."""
    if path is None:
        return dict(_packaged_profiles())
    text = read_data_text(path)
    if text is None:
        raise HandbookInputError(path, "", "expected network profiles, but there is no such file")
    return _parse_profiles(text, file=path)


@cache
def _packaged_profiles() -> dict[str, LinkProfile]:
    text = files("hpc_handbook.data").joinpath(PROFILES_FILE).read_text(encoding="utf-8")
    return _parse_profiles(text, file=f"hpc_handbook/data/{PROFILES_FILE}")


def _parse_profiles(text: str, *, file: str | Path) -> dict[str, LinkProfile]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise HandbookInputError(file, where, f"expected YAML: {exc}") from None
    if not isinstance(data, dict):
        raise HandbookInputError(file, "", f"expected a mapping with `profiles`, got {type(data).__name__}")
    parsed = validate_data(data, _ProfilesFile, file=file)
    return {name: LinkProfile(name=name, **figures.model_dump()) for name, figures in parsed.profiles.items()}
