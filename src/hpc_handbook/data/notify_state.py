"""What the last notification said, so the next run updates it instead of sending another."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from hpc_handbook.data.files import DataModel, read_json, write_json

STATE_FORMAT: Literal[1] = 1


class NotifyState(DataModel):
    format_version: Literal[1] = Field(default=STATE_FORMAT, alias="format")
    #: Which failures the message reported; "" when none.
    signature: str = ""
    #: The receiver's id for the message, to update it.
    message_id: str | None = None
    #: How many runs in a row had these failures.
    repeats: int = 1


def load_notify_state(path: Path) -> NotifyState | None:
    """The state the last run left; None before the first notification or after a recovery."""
    return read_json(path, NotifyState, hint=f"delete {path.name} to start afresh")


def write_notify_state(path: Path, state: NotifyState) -> None:
    write_json(path, state)
