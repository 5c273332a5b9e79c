"""What a reader relies on in the service's UI, recorded with the screenshots of the novice pages.

`hpc-handbook screenshots` writes it next to the pictures; `hpc-handbook ui-check` visits the
same views and compares what it finds with it: accessible names, never pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from hpc_handbook.data.files import DataModel, read_json, require, write_json

#: Where the screenshots and the snapshot live, relative to the repository root.
SCREENSHOT_DIR = Path("book/start/images")
UI_SNAPSHOT = SCREENSHOT_DIR / "ui-snapshot.json"
DATA_FORMAT: Literal[1] = 1
RECORD_COMMAND = "hpc-handbook screenshots"
_HINT = f"re-record it with `{RECORD_COMMAND}` (part of `nox -s refresh`)"


class UiView(DataModel):
    """One view: each group of elements (fields, options, tiles, a menu path) by accessible name."""

    elements: dict[str, list[str]]


class Picture(DataModel):
    """One view's picture: a region of the window, and the whole window behind it.

    The region is recorded at `scale` device pixels per CSS pixel, so that a page can show it
    at the size its text had on the screen (`width` by `height` CSS pixels) and still sharp on
    a high-resolution display; the full view is the whole window at one pixel per CSS pixel.
    """

    file: str
    full_view: str
    scale: float = Field(gt=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)


class UiSnapshot(DataModel):
    format_version: Literal[1] = Field(default=DATA_FORMAT, alias="format")
    generated_by: str = RECORD_COMMAND
    #: JupyterHub's and JupyterLab's versions when it was recorded: for the reader, never compared.
    versions: dict[str, str] = Field(default_factory=dict)
    views: dict[str, UiView]
    #: Each view's picture, by view; the UI check never compares them.
    pictures: dict[str, Picture] = Field(default_factory=dict)


def load_ui_snapshot(path: Path = UI_SNAPSHOT) -> UiSnapshot:
    return require(read_json(path, UiSnapshot, hint=_HINT), path, what=f"a UI snapshot ({_HINT})")


def write_ui_snapshot(path: Path, snapshot: UiSnapshot) -> None:
    write_json(path, snapshot)
