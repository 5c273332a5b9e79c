"""What the hub's own pages say about the handbook: its links on the login page, and the newest
changes for users and planned maintenance on the home page, from the changelog's fragments.

`site up` writes these into the hub's settings; the hub's templates (`templates/hub-pages/`)
show them. Planned maintenance is a fragment with a `maintenance` window: the hub shows it on
the login and home pages from the moment it is announced until the window ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from hpc_handbook.changelog.fragments import Fragment, scan_fragments
from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.paths import reference_site_dir

#: The handbook's pages the hub links, relative to the published handbook (the profile's docs_url).
STATUS_PAGE = "book/reference/status.html"
CHANGELOG_PAGE = "book/reference/changelog.html"
START_PAGE = "book/start/index.html"
#: How many of the newest changes for users the home page lists.
WHATS_NEW_COUNT = 3
USER_AUDIENCES = {"novice", "expert"}


def changelog_dir() -> Path:
    return reference_site_dir().parent / "changelog"


def _for_users(fragment: Fragment, profile: Profile) -> bool:
    # A fragment the probe wrote at another site says nothing about this one.
    return bool(USER_AUDIENCES & set(fragment.meta.audiences)) and fragment.meta.site in (
        None,
        profile.site.short_name,
    )


def hub_page_settings(profile: Profile, directory: Path | None = None) -> dict[str, Any]:
    """The links and announcements the hub's login and home pages show."""
    docs = str(profile.site.docs_url)
    fragments, _ = scan_fragments(directory or changelog_dir())
    for_users = [f for f in fragments if _for_users(f, profile)]
    changes = [f for f in for_users if f.meta.maintenance is None][:WHATS_NEW_COUNT]
    maintenance = [f for f in for_users if f.meta.maintenance is not None]
    return {
        "site_name": profile.site.name,
        "docs_url": docs,
        "start_url": urljoin(docs, START_PAGE),
        "status_url": urljoin(docs, STATUS_PAGE),
        "changelog_url": urljoin(docs, CHANGELOG_PAGE),
        "whats_new": [
            {"date": f.meta.date.isoformat(), "text": f.plain_text, "anchor": f.anchor} for f in changes
        ],
        "maintenance": [
            {
                "start": f.meta.maintenance.start.isoformat(timespec="minutes"),
                "end": f.meta.maintenance.end.isoformat(timespec="minutes"),
                "text": f.plain_text,
            }
            for f in maintenance
            if f.meta.maintenance is not None
        ],
    }
