"""Fixtures that build the handbook from a copy of its sources in a temporary folder.

A build takes seconds, so each scenario builds once per session and its tests share it.
Tests never build into the repository's own `_build`.
"""

from __future__ import annotations

import json

import pytest
import yaml

from hpc_handbook.data.verification import VERIFICATION_KEY

from .helpers import (
    EDITED_FRAGMENT_NAME,
    EDITED_SENTENCE,
    NEW_FRAGMENT,
    NEW_FRAGMENT_NAME,
    OLD_FRAGMENT,
    OLD_FRAGMENT_NAME,
    SKIPPED_AT_TINY,
    TINY_PROFILE,
    WAITING_TIMES,
    Book,
    build,
    change_profile,
    copy_book,
)

#: Fixtures that build a book; a test that uses one gets the `book` marker.
BUILD_FIXTURES = {"default_book", "incremental_book", "changed_profile_book", "tiny_book"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if BUILD_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.book)


@pytest.fixture(scope="session")
def default_book(tmp_path_factory: pytest.TempPathFactory) -> Book:
    root = copy_book(tmp_path_factory.mktemp("default-book"))
    return Book(root=root, html=build(root))


@pytest.fixture(scope="session")
def incremental_book(tmp_path_factory: pytest.TempPathFactory) -> Book:
    """Build; then add two fragments and edit one; then build again, incrementally."""
    root = copy_book(tmp_path_factory.mktemp("incremental-book"))
    first = Book(root=root, html=build(root))
    first_feeds, first_written = first.feeds(), first.written()
    (root / "changelog" / NEW_FRAGMENT_NAME).write_text(NEW_FRAGMENT, encoding="utf-8")
    (root / "changelog" / OLD_FRAGMENT_NAME).write_text(OLD_FRAGMENT, encoding="utf-8")
    edited = root / "changelog" / EDITED_FRAGMENT_NAME
    text = edited.read_text(encoding="utf-8").rstrip("\n")
    edited.write_text(f"{text} {EDITED_SENTENCE}\n", encoding="utf-8")
    return Book(root=root, html=build(root), first_feeds=first_feeds, first_written=first_written)


@pytest.fixture(scope="session")
def changed_profile_book(tmp_path_factory: pytest.TempPathFactory) -> Book:
    """Build with a changed copy of site.yml, and with waiting-time statistics present."""
    root = copy_book(tmp_path_factory.mktemp("changed-profile-book"))
    profile_file = root / "site.yml"
    data = yaml.safe_load(profile_file.read_text(encoding="utf-8"))
    change_profile(data)
    profile_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    data_dir = root / "book" / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "waiting-times.json").write_text(json.dumps(WAITING_TIMES, indent=2), encoding="utf-8")
    return Book(root=root, html=build(root))


@pytest.fixture(scope="session")
def tiny_book(tmp_path_factory: pytest.TempPathFactory) -> Book:
    """Build for another centre; one example says it was skipped there but keeps the default's outputs."""
    root = copy_book(tmp_path_factory.mktemp("tiny-book"))
    skipped_here = root / "examples" / f"{SKIPPED_AT_TINY}.ipynb"
    notebook = json.loads(skipped_here.read_text(encoding="utf-8"))
    notebook["metadata"][VERIFICATION_KEY] |= {
        "site": "TNC",
        "result": "skipped",
        "reason": "no GPU partition",
    }
    skipped_here.write_text(json.dumps(notebook), encoding="utf-8")
    return Book(root=root, html=build(root, site=TINY_PROFILE))
