"""Changelog fragments: the one module that owns their format.

A fragment is one Markdown file in `changelog/`, named `YYYY-MM-DD-<slug>.md`, with YAML
front matter. Towncrier's names alone (`123.added.md`) cannot carry audiences and a
component, so the metadata sits in front matter, as in Jupyter Book and static-site
news posts; the date prefix keeps `ls changelog/` in order. People write fragments by
hand and the system probe writes its own, in the same format:

    ---
    date: 2026-11-25
    type: changed
    audiences: [expert, admin]
    component: kernel
    ---
    The python3 kernel now uses NumPy 2.1; code that relied on NumPy 1 APIs may need changes.

Probe-written fragments also carry `key` (for example `kernel/python3`), so later changes
to the same component update one fragment instead of flooding the feed.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from hpc_handbook.data.files import write_atomically
from hpc_handbook.errors import HandbookInputError, HandbookInputErrors

ChangeType = Literal["added", "changed", "deprecated", "removed", "fixed", "security"]
Audience = Literal["novice", "expert", "admin"]
Component = Literal["kernel", "partition", "module", "hub", "docs", "filesystem", "service", "site"]

CHANGE_TYPES: tuple[ChangeType, ...] = get_args(ChangeType)
AUDIENCES: tuple[Audience, ...] = get_args(Audience)
COMPONENTS: tuple[Component, ...] = get_args(Component)
FILENAME_PATTERN = re.compile(r"^(\d{4}-\d{2}-\d{2})-([a-z0-9][a-z0-9-]*)\.md$")
MAX_TEXT_LENGTH = 500


#: Stands for "exists" where a component or module version has no value of its own.
PRESENT = "present"


class ChangeItem(BaseModel):
    """One changed value of a component; None on one side means added or removed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: What changed, such as `MaxTime` or `numpy`; empty for the component itself.
    label: str = ""
    old: str | None = None
    new: str | None = None

    def render(self) -> str:
        prefix = f"{self.label} " if self.label else ""
        if self.old is None:
            return f"{prefix}{'' if self.new == PRESENT else f'{self.new} '}added"
        if self.new is None:
            return f"{prefix}{'' if self.old == PRESENT else f'{self.old} '}removed"
        return f"{prefix}{self.old} → {self.new}"


class DetectedChange(BaseModel):
    """What the probe found changed in one component, as data: the fragment's text is made from it,
    and a later probe of the same day merges into it, never reading the text back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The component's own name: `python3`, `batch`, `gcc`, `rcc-cpu01`.
    name: str
    subject: str
    items: list[ChangeItem] = Field(min_length=1)


class MaintenanceWindow(BaseModel):
    """Planned maintenance: when the service goes down and when it is back, in the site's local time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: dt.datetime
    end: dt.datetime

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> MaintenanceWindow:
        if self.end <= self.start:
            raise ValueError(f"the end ({self.end}) must come after the start ({self.start})")
        return self

    def text(self) -> str:
        start, end = self.start.strftime("%Y-%m-%d %H:%M"), self.end.strftime("%Y-%m-%d %H:%M")
        if self.start.date() == self.end.date():
            end = self.end.strftime("%H:%M")
        return f"Planned maintenance from {start} to {end}."


class FragmentMeta(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    date: dt.date
    type: ChangeType
    audiences: list[Audience] = Field(min_length=1)
    component: Component
    key: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_./-]*$")
    #: The site whose probe found the change (its `short_name`); a book for another site leaves it out.
    site: str | None = None
    #: What the probe found, for a fragment it wrote (absent in hand-written ones).
    change: DetectedChange | None = None
    #: For planned maintenance: when the service is down (the hub's home page announces it until it ends).
    maintenance: MaintenanceWindow | None = None

    @field_validator("audiences")
    @classmethod
    def _unique(cls, audiences: list[str]) -> list[str]:
        if len(set(audiences)) != len(audiences):
            raise ValueError("audiences must not repeat")
        return audiences


class Fragment(BaseModel):
    """One validated changelog entry."""

    model_config = ConfigDict(frozen=True)

    slug: str
    meta: FragmentMeta
    text: str

    @property
    def anchor(self) -> str:
        """The entry's anchor on the changelog page."""
        return f"change-{self.entry_id}"

    @property
    def shown_text(self) -> str:
        """The text as pages and feeds show it: a maintenance window first, in bold."""
        if self.meta.maintenance is None:
            return self.text
        return f"**{self.meta.maintenance.text()}** {self.text}"

    @property
    def plain_text(self) -> str:
        """The shown text without Markdown markup, for titles and the hub's pages."""
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", self.shown_text)
        return " ".join(re.sub(r"[`*_]", "", text).split())

    @property
    def filename(self) -> str:
        return f"{self.meta.date.isoformat()}-{self.slug}.md"

    @property
    def entry_id(self) -> str:
        """A stable identity: the file name without its extension, unchanged across rebuilds."""
        return self.filename.removesuffix(".md")

    def render(self) -> str:
        meta = self.meta.model_dump(mode="json", exclude_none=True)
        front = yaml.safe_dump(meta, sort_keys=False, default_flow_style=None).strip()
        return f"---\n{front}\n---\n{self.text.strip()}\n"


def _error_for(file: Path, error: ErrorDetails) -> HandbookInputError:
    field = ".".join(str(part) for part in error["loc"]) or "front matter"
    if error["type"] == "missing":
        return HandbookInputError(file, field, "required field is missing")
    if error["type"] == "extra_forbidden":
        return HandbookInputError(
            file,
            field,
            "unknown field; expected date, type, audiences, component, key, site, change, maintenance",
        )
    expected = {
        "type": f"one of {', '.join(CHANGE_TYPES)}",
        "component": f"one of {', '.join(COMPONENTS)}",
        "date": "a date like 2026-11-25",
    }.get(str(error["loc"][0]), error["msg"].removeprefix("Value error, ").lower())
    if str(error["loc"][0]) == "audiences":
        expected = f"a non-empty list of {', '.join(AUDIENCES)}, without repeats"
    return HandbookInputError(file, field, f"expected {expected}, got {error.get('input')!r}")


def parse_fragment_text(text: str, *, file: Path) -> Fragment:
    """Parse one fragment's text; raise HandbookInputError naming the file and the field."""
    name_match = FILENAME_PATTERN.match(file.name)
    if name_match is None:
        raise HandbookInputError(file, "file name", "expected YYYY-MM-DD-lower-case-slug.md")
    match = re.match(r"^---\n(.*?)\n---\n?(.*)$", text, re.DOTALL)
    if match is None:
        raise HandbookInputError(file, "front matter", "expected the file to start with a '---' YAML block")
    try:
        raw = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise HandbookInputError(file, "front matter", f"expected valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise HandbookInputError(file, "front matter", "expected a mapping of fields")
    try:
        meta = FragmentMeta.model_validate(raw)
    except ValidationError as exc:
        raise _error_for(file, exc.errors()[0]) from None
    if meta.date.isoformat() != name_match.group(1):
        raise HandbookInputError(
            file, "date", f"expected the date in the file name ({name_match.group(1)}), got {meta.date}"
        )
    body = match.group(2).strip()
    if not body:
        raise HandbookInputError(file, "text", "expected one or two sentences after the front matter")
    if len(body) > MAX_TEXT_LENGTH:
        raise HandbookInputError(
            file,
            "text",
            f"expected at most {MAX_TEXT_LENGTH} characters (one or two sentences), got {len(body)}",
        )
    return Fragment(slug=name_match.group(2), meta=meta, text=body)


def parse_fragment(path: Path) -> Fragment:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HandbookInputError(path, "", f"cannot read the fragment ({exc})") from None
    return parse_fragment_text(text, file=path)


def fragment_paths(directory: Path) -> list[Path]:
    """The fragment files of a changelog folder (README and dot files are not fragments)."""
    return sorted(
        p for p in directory.glob("*.md") if p.name.lower() != "readme.md" and not p.name.startswith(".")
    )


def load_fragments(directory: Path) -> list[Fragment]:
    """Load every fragment, newest first (then by file name, so the order is stable)."""
    fragments = [parse_fragment(path) for path in fragment_paths(directory)]
    return sorted(fragments, key=lambda f: (f.meta.date, f.slug), reverse=True)


def write_fragment(directory: Path, fragment: Fragment) -> Path:
    """Write a fragment atomically: a reader never sees half a file."""
    target = directory / fragment.filename
    write_atomically(target, fragment.render())
    return target


#: How pages and feeds name each audience; the keys are the front matter's values.
AUDIENCE_TITLES = {"novice": "New users", "expert": "Experienced users", "admin": "Administrators"}
#: How pages and feeds name each change type.
TYPE_TITLES = {
    "added": "Added",
    "changed": "Changed",
    "deprecated": "Deprecated",
    "removed": "Removed",
    "fixed": "Fixed",
    "security": "Security",
}


def scan_fragments(directory: Path) -> tuple[list[Fragment], list[HandbookInputError]]:
    """Parse every fragment of a folder; return the good ones (newest first) and an error per bad one.

    Unlike `load_fragments`, which stops at the first bad file, this goes on, so one run
    tells a contributor everything to fix and the book build can warn about each file.
    """
    if not directory.is_dir():
        return [], [HandbookInputError(directory, "", "expected a folder of changelog fragments")]
    fragments: list[Fragment] = []
    errors: list[HandbookInputError] = []
    # A fragment saved as .txt or .markdown would otherwise be skipped without a word.
    for path in sorted(directory.iterdir()):
        ignored = path.name.startswith(".") or path.stem.lower() == "readme"
        if path.is_file() and path.suffix != ".md" and not ignored:
            errors.append(HandbookInputError(path, "file name", "expected YYYY-MM-DD-lower-case-slug.md"))
    for path in fragment_paths(directory):
        try:
            fragments.append(parse_fragment(path))
        except HandbookInputError as error:
            errors.append(error)
    # The probe keeps one fragment per key and day; two would show one day's change of a component twice.
    first_with_key: dict[tuple[str, dt.date], Fragment] = {}
    duplicates: set[str] = set()
    for fragment in sorted(fragments, key=lambda f: f.filename):
        if fragment.meta.key is None:
            continue
        identity = (fragment.meta.key, fragment.meta.date)
        if identity in first_with_key:
            duplicates.add(fragment.filename)
            errors.append(
                HandbookInputError(
                    directory / fragment.filename,
                    "key",
                    f"expected one fragment per key and day; {first_with_key[identity].filename} "
                    f"also has {fragment.meta.key!r} on {fragment.meta.date}",
                )
            )
        else:
            first_with_key[identity] = fragment
    kept = [fragment for fragment in fragments if fragment.filename not in duplicates]
    return sorted(kept, key=lambda f: (f.meta.date, f.slug), reverse=True), errors


def check_fragments(directory: Path) -> list[Fragment]:
    """Validate every fragment of a folder; raise one error that lists every bad file."""
    fragments, errors = scan_fragments(directory)
    if errors:
        raise HandbookInputErrors(errors)
    return fragments
