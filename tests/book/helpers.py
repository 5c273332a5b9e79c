"""Helpers for the book tests: copy the handbook's sources, build them, read the output."""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from hpc_handbook.build import build_book
from hpc_handbook.profile import load_profile

REPO = Path(__file__).resolve().parents[2]
#: What a book build reads: configuration, profile, pages, examples and changelog fragments.
BOOK_SOURCES = ("_config.yml", "_toc.yml", "site.yml", "book", "examples", "changelog")
TINY_PROFILE = REPO / "tests" / "profiles" / "tiny.yml"
#: An example the tiny profile cannot run (it has no GPU partition), with a parameter it has no value for.
SKIPPED_AT_TINY = "recipe-gpu-kernel"
SCHEMAS = Path(__file__).parent / "schemas"


@dataclass
class Book:
    """A built copy of the handbook: its source root and its HTML output."""

    root: Path
    html: Path
    #: Feeds as the first build wrote them, by file name (the incremental scenario builds twice).
    first_feeds: dict[str, bytes] = field(default_factory=dict)
    #: When the first build wrote each HTML page, by path relative to the output.
    first_written: dict[str, int] = field(default_factory=dict)

    def page(self, docname: str) -> str:
        return (self.html / f"{docname}.html").read_text(encoding="utf-8")

    def feed(self, name: str) -> bytes:
        return (self.html / "feeds" / f"{name}.atom.xml").read_bytes()

    def written(self) -> dict[str, int]:
        return {str(p.relative_to(self.html)): p.stat().st_mtime_ns for p in self.html.rglob("*.html")}

    def feeds(self) -> dict[str, bytes]:
        return {path.name: path.read_bytes() for path in sorted((self.html / "feeds").glob("*.atom.xml"))}


def copy_book(destination: Path) -> Path:
    """Copy what a build reads, without build output or dot files, into a fresh folder."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in BOOK_SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("_build", ".*"))
        else:
            shutil.copy2(source, destination / name)
    return destination


def build(root: Path, *, site: Path | None = None) -> Path:
    """Build with warnings as errors, as CI does; pytest shows Sphinx's output when it fails."""
    return build_book(root=root, site=site, strict=True)


def _day_after_the_newest_fragment() -> str:
    dates = [path.name[:10] for path in (REPO / "changelog").glob("20[0-9][0-9]-[01][0-9]-[0-3][0-9]-*.md")]
    return (dt.date.fromisoformat(max(dates)) + dt.timedelta(days=1)).isoformat()


#: The date of the fragment the incremental scenario adds: newer than every committed one.
NEW_FRAGMENT_DATE = _day_after_the_newest_fragment()
#: A fragment added between the two builds of the incremental scenario; its text needs escaping.
NEW_FRAGMENT_NAME = f"{NEW_FRAGMENT_DATE}-escaping-check.md"
NEW_FRAGMENT = f"""---
date: {NEW_FRAGMENT_DATE}
type: changed
audiences: [expert]
component: kernel
---
The `python3` kernel now reports memory use when a < b & "c" holds, for <experts> only.
"""
#: An older fragment, in another month, so the page has two month groups.
OLD_FRAGMENT_NAME = "2026-10-02-older-change.md"
OLD_FRAGMENT = """---
date: 2026-10-02
type: fixed
audiences: [admin]
component: hub
---
The hub no longer forgets the partition a user chose last.
"""
EDITED_FRAGMENT_NAME = "2026-11-25-handbook-tracks.md"
EDITED_SENTENCE = "This sentence was added to an existing fragment between two builds."

#: Waiting-time statistics in the format `hpc-handbook waiting-times collect` writes.
WAITING_TIMES = {
    "format": 1,
    "generated_by": "hpc-handbook waiting-times collect",
    "period": {"start": "2026-11-01T00:00", "end": "2026-11-29T00:00"},
    "sources": ["jobcomp"],
    "node_buckets": ["1 node"],
    "walltime_buckets": ["up to 1 h"],
    "total_jobs": 42,
    "partitions": {
        "interactive": {"all": {"jobs": 30, "median_s": 20.0, "p90_s": 95.0}, "buckets": []},
        "batch": {"all": {"jobs": 12, "median_s": 600.0, "p90_s": 1800.0}, "buckets": []},
    },
}


def change_profile(data: dict) -> None:
    """A centre's later profile: a GPU partition, containers, open extensions, new answers and limitations."""
    # Its GPU partition replaces the default's, and Jupyter cannot reach it.
    partitions = data["systems"][0]["partitions"]
    partitions[:] = [p for p in partitions if not p["limits"].get("gpus_per_node")]
    data["kernels"] = [k for k in data["kernels"] if not k.get("gpus")]
    data["systems"][0]["partitions"].append(
        {
            "name": "gpu-a100",
            "purpose": "Training models on GPUs.",
            "jupyter": False,
            "limits": {
                "max_nodes": 2,
                "max_walltime": "08:00:00",
                "gpus_per_node": 4,
                "memory_per_node_gb": 64,
            },
        }
    )
    data["capabilities"] = {"gpu": True, "apptainer": True, "conda": False}
    data["jupyter"]["users_can_install_extensions"] = True
    data["known_limitations"] = {
        "reviewed": "2026-12-03",
        "since": "2026-12-01",
        "entries": [
            {
                "title": "Notebooks cannot send email",
                "details": "Compute nodes have no mail relay.",
                "workaround": "Write a file and check it from the login node.",
                "component": "service",
                "since": "2026-12-02",
                "reviewed": "2026-12-03",
            }
        ],
    }
    data["self_assessment"] = {
        "reviewed": "2026-12-04",
        "answers": {
            "access-slow-network": {
                "rating": "yes",
                "component": "hub",
                "note": "Tested from a train's mobile network.",
            }
        },
    }


#: What only the default site's profile says; none of it may appear in another centre's book.
DEFAULT_SITE_VALUES = (
    "Reference Computing Centre",
    "RCC",
    "rcc.example.org",
    "jupyter-support@rcc.example.org",
    "https://jupyter.rcc.example.org",
    "https://docs.rcc.example.org/jupyter/",
    "https://git.rcc.example.org/hpc/jupyter-handbook",
)
#: Names in the default profile that are also ordinary words or commands, in any centre's book.
ORDINARY_NAMES = {"interactive", "batch", "python3", "bash", "ir", "/home/$USER"}


def default_profile_names() -> tuple[str, ...]:
    """Every name, module and path of the default profile that no other centre's book may show."""
    profile = load_profile(REPO / "site.yml")
    names = (
        {kernel.name for kernel in profile.kernels}
        | {module for kernel in profile.kernels for module in kernel.modules}
        | {partition.name for partition in profile.partitions}
        | {system.name for system in profile.systems}
        | set(profile.modules.relied_on)
        | set(profile.modules.paths)
        | {filesystem.path for filesystem in profile.filesystems}
    )
    return tuple(sorted(names - ORDINARY_NAMES))


def visible_text(html_dir: Path) -> dict[str, str]:
    """Every HTML page and feed of a build, by path."""
    texts = {}
    for path in sorted([*html_dir.rglob("*.html"), *html_dir.rglob("*.xml")]):
        if "_static" in path.parts or "_sources" in path.parts:
            continue
        texts[str(path.relative_to(html_dir))] = readable(path.read_text(encoding="utf-8"))
    return texts


def readable(markup: str) -> str:
    """Text as a reader sees it: Sphinx writes an email address as `help<span>&#64;</span>…`."""
    return html.unescape(re.sub(r"</?span[^>]*>", "", markup))


def default_site_leaks(book: Book) -> dict[str, list[str]]:
    """Per page of a build, the names and addresses of the default site it shows."""
    values = (*DEFAULT_SITE_VALUES, *default_profile_names())
    # A kernel selector such as `role:gpu` names a role every centre's examples share, not a partition.
    texts = {page: re.sub(r"\brole:[\w-]+", "", text) for page, text in visible_text(book.html).items()}
    found = {
        page: [value for value in values if re.search(rf"(?<![\w-]){re.escape(value)}(?![\w-])", text)]
        for page, text in texts.items()
    }
    return {page: values for page, values in found.items() if values}
