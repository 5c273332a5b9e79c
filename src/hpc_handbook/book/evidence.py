"""What the scorecard measures from: the profile, the changelog, the pages, and optional measurements.

The measurements (the doc CI's report, the probe's snapshot, the waiting-time statistics)
may not exist yet. A page that reads one notes it as a dependency; one that finds it missing
notes that too, so the file's arrival re-reads the page.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from hpc_handbook.book.changelog_pages import changelog_dir, loaded_fragments
from hpc_handbook.book.config import book_path
from hpc_handbook.book.state import note_missing_input, note_view
from hpc_handbook.changelog import Fragment
from hpc_handbook.profile import Profile

logger = logging.getLogger(__name__)

EXAMPLES_REPORT = "examples.json"


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """Everything the scorecard can measure from; a missing measurement is None."""

    profile: Profile
    fragments: Sequence[Fragment] = ()
    pages: frozenset[str] = frozenset()
    examples_report: dict[str, Any] | None = None
    snapshot: dict[str, Any] | None = None
    waiting_times: dict[str, Any] | None = None


def read_optional_json(path: Path) -> dict[str, Any] | None:
    """Read a measurement file that may not exist yet; a broken one is a warning, not a crash."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problem = f"cannot read {path} ({exc})"
    else:
        if isinstance(data, dict):
            return data
        problem = f"{path} is not a JSON object"
    logger.warning("%s; the scorecard treats it as missing", problem, type="handbook", subtype="scorecard")
    return None


def measured_here(data: dict[str, Any] | None, profile: Profile) -> dict[str, Any] | None:
    """Drop a measurement of another site: a book built for a second profile must not show the first's."""
    if data is not None and data.get("site") not in (None, profile.site.short_name):
        return None
    return data


def optional_inputs(directive: SphinxDirective) -> dict[str, Path]:
    app = directive.env.app
    return {
        "examples_report": book_path(app, "handbook_reports_dir") / EXAMPLES_REPORT,
        "snapshot": book_path(app, "handbook_snapshot"),
        "waiting_times": book_path(app, "handbook_waiting_times"),
    }


def gather_evidence(directive: SphinxDirective, profile: Profile) -> Evidence:
    """Read every input of the scorecard, noting each as a dependency of the page being read."""
    env = directive.env
    data: dict[str, Any] = {}
    for name, path in optional_inputs(directive).items():
        if path.is_file():
            env.note_dependency(str(path))
        else:
            note_missing_input(env, path)
        data[name] = measured_here(read_optional_json(path), profile)
    # The changelog criterion counts fragments: re-read this page when one is added.
    note_view(env, "scorecard")
    fragments = loaded_fragments(env.app)
    for fragment in fragments:
        env.note_dependency(str(changelog_dir(env.app) / fragment.filename))
    return Evidence(profile=profile, fragments=fragments, pages=frozenset(env.found_docs), **data)
