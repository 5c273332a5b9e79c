"""Changelog fragments: the format, `hpc-handbook changelog check`, and the feed built from them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hpc_handbook.book.feeds import build_feed, entry_id, entry_title
from hpc_handbook.changelog.fragments import (
    Fragment,
    FragmentMeta,
    check_fragments,
    parse_fragment,
    write_fragment,
)
from hpc_handbook.cli import main
from hpc_handbook.errors import INPUT_ERROR_EXIT_CODE, HandbookInputErrors
from hpc_handbook.profile import load_profile

REPO = Path(__file__).resolve().parents[2]

GOOD = """---
date: 2026-11-25
type: added
audiences: [novice, admin]
component: docs
---
The handbook now has a changelog.
"""


def front_matter(**fields: str) -> str:
    values = {"date": "2026-11-25", "type": "added", "audiences": "[novice]", "component": "docs", **fields}
    lines = [f"{key}: {value}" for key, value in values.items() if value is not None]
    return "---\n" + "\n".join(lines) + "\n---\n"


# (file name, content, field named in the error, words the error must contain)
BAD_FRAGMENTS = {
    "bad name": ("2026-11-25-Bad_Name.md", GOOD, "file name", "YYYY-MM-DD"),
    "not markdown": ("2026-11-25-notes.txt", GOOD, "file name", "YYYY-MM-DD"),
    "missing field": (
        "2026-11-25-no-type.md",
        "---\ndate: 2026-11-25\naudiences: [novice]\ncomponent: docs\n---\nText.\n",
        "type",
        "required field is missing",
    ),
    "bad type": ("2026-11-25-bad-type.md", front_matter(type="improved") + "Text.\n", "type", "one of added"),
    "bad audience": (
        "2026-11-25-bad-audience.md",
        front_matter(audiences="[users]") + "Text.\n",
        "audiences",
        "novice, expert, admin",
    ),
    "empty audiences": (
        "2026-11-25-no-audience.md",
        front_matter(audiences="[]") + "Text.\n",
        "audiences",
        "non-empty",
    ),
    "date mismatch": (
        "2026-11-25-date-mismatch.md",
        front_matter(date="2026-11-24") + "Text.\n",
        "date",
        "date in the file name (2026-11-25)",
    ),
    "empty text": ("2026-11-25-empty.md", front_matter() + "\n  \n", "text", "one or two sentences"),
    "unknown field": (
        "2026-11-25-extra.md",
        front_matter(audience="novice") + "Text.\n",
        "audience",
        "unknown field",
    ),
    "no front matter": ("2026-11-25-plain.md", "Just text.\n", "front matter", "'---'"),
}


@pytest.mark.parametrize("case", BAD_FRAGMENTS, ids=list(BAD_FRAGMENTS))
def test_check_rejects_a_bad_fragment_with_file_field_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    name, content, field, expected = BAD_FRAGMENTS[case]
    (tmp_path / "2026-11-25-good.md").write_text(GOOD, encoding="utf-8")
    (tmp_path / name).write_text(content, encoding="utf-8")
    assert main(["changelog", "check", str(tmp_path)]) == INPUT_ERROR_EXIT_CODE
    error = capsys.readouterr().err
    assert error.startswith("error: ")
    assert f"{tmp_path / name} at {field}" in error
    assert expected in error
    assert "2026-11-25-good.md" not in error


def test_check_reports_every_bad_fragment_at_once(tmp_path: Path) -> None:
    for case in ("bad type", "date mismatch", "empty text"):
        name, content, _, _ = BAD_FRAGMENTS[case]
        (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(HandbookInputErrors) as raised:
        check_fragments(tmp_path)
    assert [error.where for error in raised.value.errors] == ["type", "date", "text"]


def probe_fragment(directory: Path, name: str, date: str) -> None:
    (directory / name).write_text(
        front_matter(date=date, component="kernel", key="kernel/python3") + "NumPy changed.\n",
        encoding="utf-8",
    )


def test_check_rejects_two_fragments_with_one_probe_key_on_one_day(tmp_path: Path) -> None:
    probe_fragment(tmp_path, "2026-11-25-system-kernel-python3.md", "2026-11-25")
    probe_fragment(tmp_path, "2026-11-25-numpy-again.md", "2026-11-25")
    with pytest.raises(
        HandbookInputErrors, match=r"2026-11-25-system-kernel-python3\.md at key: .*numpy-again"
    ):
        check_fragments(tmp_path)


def test_check_accepts_one_probe_key_on_different_days(tmp_path: Path) -> None:
    probe_fragment(tmp_path, "2026-11-20-system-kernel-python3.md", "2026-11-20")
    probe_fragment(tmp_path, "2026-11-25-system-kernel-python3.md", "2026-11-25")
    assert len(check_fragments(tmp_path)) == 2


def test_check_accepts_readme_and_dot_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "README.md").write_text("# Fragments\n", encoding="utf-8")
    (tmp_path / ".gitkeep").write_text("", encoding="utf-8")
    (tmp_path / "2026-11-25-good.md").write_text(GOOD, encoding="utf-8")
    assert main(["changelog", "check", str(tmp_path)]) == 0
    assert (
        "1 changelog fragments are valid (1 for novice, 0 for expert, 1 for admin)" in capsys.readouterr().out
    )


def test_check_of_a_missing_folder_exits_2(tmp_path: Path) -> None:
    assert main(["changelog", "check", str(tmp_path / "nowhere")]) == INPUT_ERROR_EXIT_CODE


def test_the_repositorys_fragments_are_valid() -> None:
    fragments = check_fragments(REPO / "changelog")
    assert fragments == sorted(fragments, key=lambda f: (f.meta.date, f.slug), reverse=True)
    assert {audience for f in fragments for audience in f.meta.audiences} == {"novice", "expert", "admin"}


def test_a_written_fragment_reads_back(tmp_path: Path) -> None:
    fragment = Fragment(
        slug="numpy-update",
        meta=FragmentMeta(
            date=dt.date(2026, 11, 25), type="changed", audiences=["expert"], component="kernel"
        ),
        text="The python3 kernel now uses NumPy 2.1.",
    )
    assert parse_fragment(write_fragment(tmp_path, fragment)) == fragment
    assert check_fragments(tmp_path) == [fragment]


# --- The feed, without a book build ------------------------------------------------------------


def fragment(name: str, text: str, audiences: list[str]) -> Fragment:
    return Fragment(
        slug=name[11:],
        meta=FragmentMeta(
            date=dt.date.fromisoformat(name[:10]), type="added", audiences=audiences, component="docs"
        ),
        text=text,
    )


def test_feed_entries_are_stable_tag_uris_and_titles() -> None:
    profile = load_profile(REPO / "site.yml")
    item = fragment("2026-11-25-tracks", "Three tracks. Each for one reader.", ["novice"])
    assert (
        entry_id(item, profile=profile)
        == "tag:docs.rcc.example.org,2026-11-25:/jupyter/changelog/2026-11-25-tracks"
    )
    assert entry_title(item) == "Added: Three tracks."
    long = fragment("2026-11-25-long", "word " * 60, ["novice"])
    assert len(entry_title(long)) <= len("Added: ") + 100 and entry_title(long).endswith("…")


def test_feed_is_the_same_bytes_for_the_same_fragments() -> None:
    profile = load_profile(REPO / "site.yml")
    items = [
        fragment("2026-11-25-b", "Second.", ["admin"]),
        fragment("2026-11-20-a", "First.", ["novice", "admin"]),
    ]
    first = build_feed(
        items, profile=profile, audience="admin", changelog_path="book/reference/changelog.html"
    )
    again = build_feed(
        items, profile=profile, audience="admin", changelog_path="book/reference/changelog.html"
    )
    assert first == again
    assert b"<updated>2026-11-25T00:00:00+00:00</updated>" in first
    novice = build_feed(items, profile=profile, audience="novice", changelog_path=None)
    # A feed is dated by its newest entry, so the novice feed's date is the older change's.
    assert novice.count(b"<entry>") == 1
    assert b"<updated>2026-11-20T00:00:00+00:00</updated>" in novice
    expert = build_feed(items, profile=profile, audience="expert", changelog_path=None)
    assert b"<entry>" not in expert and b"<updated>2026-11-25T00:00:00+00:00</updated>" in expert
