"""The scorecard's documentation criteria, measured from the doc CI's report, the examples'
refresh records, the pages of the book and its changelog."""

from __future__ import annotations

from hpc_handbook.book.changelog_pages import human_date
from hpc_handbook.book.evidence import Evidence, Finding, Measure


def _current_from_records(evidence: Evidence) -> Finding | str:
    """Without a doc CI report: what the examples' own refresh records say about this site."""
    site = evidence.profile.site.short_name
    records = evidence.verifications
    here = {name: r for name, r in records.items() if r is not None and r.site == site}
    passed = sorted(name for name, r in here.items() if r.result == "passed")
    if not passed:
        return "Not yet measured: no doc CI report, and no example was refreshed at this site."
    skipped = sum(1 for r in here.values() if r.result == "skipped")
    dates = sorted(r.date for r in here.values())
    text = (
        f"{len(passed)} of {len(records)} examples were recorded on this site's kernels by their last "
        f"refresh ({dates[0]} to {dates[-1]})"
    )
    text += f"; {skipped} not verified here (the site lacks what they need)" if skipped else ""
    return Finding(
        "partly", text + "; there is no doc CI report of a later run.", "examples' refresh records"
    )


def _current(evidence: Evidence) -> Finding | str:
    report = evidence.examples_report
    if report is None:
        return _current_from_records(evidence)
    passed, failed, skipped = report.summary.passed, report.summary.failed, report.summary.skipped
    runs = report.summary.runs
    if runs == 0:
        return "Not yet measured: the last doc CI report has no example runs."
    text = f"Doc CI run of {report.date}: {passed} of {runs} example runs passed"
    text += f", {failed} failed" if failed else ""
    text += f", {skipped} skipped (not verified at this site)" if skipped else ""
    rating = "yes" if failed == 0 and passed else "partly" if passed > failed else "no"
    return Finding(rating, text + ".", "doc CI report")


TRACKS = {"novice": ("book/start/", "examples/start-"), "expert": ("book/recipes/", "examples/recipe-"),
          "admin": ("book/operate/", "examples/operate-")}  # fmt: skip
TRACK_TITLES = {"novice": "getting started", "expert": "recipes", "admin": "operating the service"}


def _audiences(evidence: Evidence) -> Finding:
    counts = {
        track: sum(1 for page in evidence.pages if page.startswith(prefixes))
        for track, prefixes in TRACKS.items()
    }
    text = "Pages per track: " + ", ".join(f"{TRACK_TITLES[t]} {n}" for t, n in counts.items()) + "."
    # A track with only its index page does not serve its readers yet.
    rating = (
        "yes"
        if all(n >= 2 for n in counts.values())
        else "partly"
        if any(n >= 2 for n in counts.values())
        else "no"
    )
    return Finding(rating, text, "this handbook")


def _changes(evidence: Evidence) -> Finding:
    if not evidence.fragments:
        return Finding("no", "No changes are recorded yet.", "this handbook")
    latest = evidence.fragments[0].meta.date
    return Finding(
        "yes",
        f"{len(evidence.fragments)} changes recorded, the latest on {human_date(latest)}, "
        "with an Atom feed for everyone and one per audience.",
        "this handbook",
    )


DOCS_MEASURES: dict[str, Measure] = {
    "docs-current": _current,
    "docs-audiences": _audiences,
    "docs-changes": _changes,
}
