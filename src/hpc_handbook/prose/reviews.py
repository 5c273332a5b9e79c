"""Self-assessed statements whose component changed after their review: the doc CI asks for a new one.

The scorecard's self-assessment answers and the profile's known limitations name what they are
about (a changelog component) and when an administrator last checked them. A changelog entry
for that component dated after the review means the statement may no longer hold.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hpc_handbook.changelog.fragments import Fragment
from hpc_handbook.profile import Profile

#: What the limitations derived from the profile and the probe are about.
DERIVED_LIMITATION_COMPONENTS = ("partition", "kernel", "hub", "service")


@dataclass(frozen=True)
class ReviewDue:
    subject: str
    component: str
    reviewed: dt.date
    #: The changes since, as `date: text`, newest first.
    changes: tuple[str, ...]

    def line(self) -> str:
        latest = self.changes[0] if self.changes else ""
        more = f" (and {len(self.changes) - 1} more)" if len(self.changes) > 1 else ""
        return (
            f"{self.subject} is about the {self.component}, reviewed {self.reviewed.isoformat()}, "
            f"but the changelog has a newer {self.component} change: {latest}{more}; review it in site.yml"
        )


def _changes_since(
    fragments: list[Fragment], component: str, reviewed: dt.date, site: str
) -> tuple[str, ...]:
    newer = [
        f
        for f in fragments
        if f.meta.component == component and f.meta.date > reviewed and f.meta.site in (None, site)
    ]
    newer.sort(key=lambda f: f.meta.date, reverse=True)
    return tuple(f"{f.meta.date.isoformat()}: {f.text.strip().splitlines()[0][:100]}" for f in newer)


def reviews_due(profile: Profile, fragments: list[Fragment]) -> list[ReviewDue]:
    """Every self-assessed statement of the profile whose component changed after its review."""
    site = profile.site.short_name
    due = []
    assessment = profile.self_assessment
    for criterion, answer in sorted(assessment.answers.items()):
        reviewed = assessment.reviewed_on(criterion)
        changes = _changes_since(fragments, answer.component, reviewed, site)
        if changes:
            due.append(ReviewDue(f"self_assessment {criterion}", answer.component, reviewed, changes))
    page = profile.known_limitations
    if page.reviewed is not None:
        # The limitations that follow from the site hold while the site is as its profile says.
        for component in DERIVED_LIMITATION_COMPONENTS:
            changes = _changes_since(fragments, component, page.reviewed, site)
            if changes:
                due.append(
                    ReviewDue("known_limitations (the page as a whole)", component, page.reviewed, changes)
                )
    for limitation in profile.known_limitations.entries:
        changes = _changes_since(fragments, limitation.component, limitation.reviewed, site)
        if changes:
            subject = f"known_limitations entry {limitation.title!r}"
            due.append(ReviewDue(subject, limitation.component, limitation.reviewed, changes))
    return due
