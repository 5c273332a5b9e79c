"""The hub's own pages: the handbook's links, the newest changes for users and planned maintenance,
from the changelog's fragments (hub_pages.py), and maintenance windows in the fragments themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpc_handbook.changelog.fragments import parse_fragment_text
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.profile import load_profile
from hpc_handbook.reference_site.hub_pages import WHATS_NEW_COUNT, hub_page_settings

PROFILE = load_profile("site.yml")


def fragment(directory: Path, name: str, audiences: str, text: str, extra: str = "") -> None:
    date = name[:10]
    (directory / f"{name}.md").write_text(
        f"---\ndate: {date}\ntype: changed\naudiences: [{audiences}]\ncomponent: hub\n{extra}---\n{text}\n"
    )


def test_the_home_page_lists_the_newest_changes_for_users_only(tmp_path: Path) -> None:
    fragment(tmp_path, "2026-12-01-old", "novice", "An old change.")
    for day in range(2, 2 + WHATS_NEW_COUNT):
        fragment(tmp_path, f"2026-12-{day:02d}-new", "expert", f"Change of day {day} with `code`.")
    fragment(tmp_path, "2026-12-09-admins", "admin", "Only for admins.")
    fragment(tmp_path, "2026-12-09-elsewhere", "novice", "Found at another site.", "site: XYZ\n")
    pages = hub_page_settings(PROFILE, tmp_path)
    texts = [change["text"] for change in pages["whats_new"]]
    assert len(texts) == WHATS_NEW_COUNT
    assert texts[0] == f"Change of day {1 + WHATS_NEW_COUNT} with code."
    assert (
        "An old change." not in texts
        and "Only for admins." not in texts
        and "Found at another site." not in texts
    )
    assert pages["whats_new"][0]["anchor"] == f"change-2026-12-{1 + WHATS_NEW_COUNT:02d}-new"


def test_the_pages_link_the_profiles_handbook(tmp_path: Path) -> None:
    pages = hub_page_settings(PROFILE, tmp_path)
    docs = str(PROFILE.site.docs_url)
    assert pages["docs_url"] == docs
    assert pages["status_url"] == docs + "book/reference/status.html"
    assert pages["changelog_url"] == docs + "book/reference/changelog.html"
    assert pages["site_name"] == PROFILE.site.name


def test_planned_maintenance_is_announced_apart_with_its_window(tmp_path: Path) -> None:
    window = "maintenance: {start: 2026-12-14T08:00, end: 2026-12-14T12:30}\n"
    fragment(tmp_path, "2026-12-07-slurm-update", "novice, expert", "Slurm is updated; servers stop.", window)
    pages = hub_page_settings(PROFILE, tmp_path)
    assert pages["whats_new"] == []
    assert pages["maintenance"] == [
        {
            "start": "2026-12-14T08:00",
            "end": "2026-12-14T12:30",
            "text": "Planned maintenance from 2026-12-14 08:00 to 12:30. Slurm is updated; servers stop.",
        }
    ]


def test_a_window_that_ends_before_it_starts_is_refused_with_the_field() -> None:
    text = (
        "---\ndate: 2026-12-07\ntype: changed\naudiences: [novice]\ncomponent: site\n"
        "maintenance: {start: 2026-12-14T12:00, end: 2026-12-14T08:00}\n---\nBackwards.\n"
    )
    with pytest.raises(HandbookInputError) as error:
        parse_fragment_text(text, file=Path("2026-12-07-backwards.md"))
    assert error.value.where == "maintenance"
    assert "must come after the start" in error.value.problem


def test_the_changelog_shows_the_window_first() -> None:
    text = (
        "---\ndate: 2026-12-07\ntype: changed\naudiences: [novice]\ncomponent: site\n"
        "maintenance: {start: 2026-12-14T08:00, end: 2026-12-15T10:00}\n---\nTwo days.\n"
    )
    shown = parse_fragment_text(text, file=Path("2026-12-07-long.md")).shown_text
    assert shown == "**Planned maintenance from 2026-12-14 08:00 to 2026-12-15 10:00.** Two days."
