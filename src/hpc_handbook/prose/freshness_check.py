"""Stale data as prose findings: the page that shows a figure older than the site, at its line."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hpc_handbook.data.service_measurements import SERVICE_MEASUREMENTS, load_service_measurements
from hpc_handbook.data.verification import load_verification
from hpc_handbook.data.waiting_times import DEFAULT_OUTPUT as WAITING_TIMES
from hpc_handbook.data.waiting_times import load_waiting_times
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.examples.contract import discover_examples
from hpc_handbook.prose.check import ProseFinding
from hpc_handbook.prose.sources import owner_of, page_owners
from hpc_handbook.site_facts.freshness import (
    StaleFigure,
    stale_spawn_figures,
    stale_verifications,
    stale_waiting_times,
)
from hpc_handbook.site_facts.vocabulary import Vocabulary

#: The directive that shows each data file on a page.
SHOWN_BY = {WAITING_TIMES.as_posix(): "waiting-times", SERVICE_MEASUREMENTS.as_posix(): "service-scorecard"}


def _pages_showing(root: Path, directive: str) -> list[tuple[str, int]]:
    """(page, line) of every use of a directive in the book's Markdown pages."""
    pattern = re.compile(r"^\s*(```|:::)\{" + re.escape(directive) + r"\}")
    found = []
    for path in sorted((root / "book").rglob("*.md")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if pattern.match(line):
                found.append((path.relative_to(root).as_posix(), number))
                break
    return found


def stale_figures(root: Path, vocabulary: Vocabulary) -> list[StaleFigure]:
    """Every figure of the book's data files and examples that is older than the site."""
    profile = vocabulary.profile
    stale = stale_waiting_times(vocabulary, load_waiting_times(root / WAITING_TIMES))
    service = load_service_measurements(root / SERVICE_MEASUREMENTS)
    if service is None or service.site == profile.site.short_name:
        stale += stale_spawn_figures(vocabulary, service)
    try:
        examples = discover_examples(root / "examples", profile)
    except HandbookInputError:
        examples = []  # the doc CI names a notebook that breaks the contract
    records = {example.name: load_verification(example.path) for example in examples}
    resolved = {example.name: example.kernels for example in examples}
    return stale + stale_verifications(records, resolved, profile.site.short_name)


def freshness_findings(root: Path, vocabulary: Vocabulary) -> list[ProseFinding]:
    owners = page_owners(root)
    findings = []
    for figure in stale_figures(root, vocabulary):
        directive = SHOWN_BY.get(figure.file)
        places = _pages_showing(root, directive) if directive else [(figure.file, 0)]
        for page, line in places:
            owner = owner_of(page, owners) if page.startswith("book/") else _example_owner(root / page)
            findings.append(
                ProseFinding(
                    page=page,
                    location=f"line {line}" if line else "verification record",
                    owner=owner,
                    kind="stale data",
                    claim=f"{figure.file}: {figure.subject}",
                    truth=f"{figure.reason}; measure it again with `{figure.command}`",
                )
            )
    return findings


def _example_owner(path: Path) -> str:
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["metadata"]["handbook"]["owner"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""
