"""What the last notifications said, so the next run replies in their thread or stays quiet.

One file for every channel: the chat webhook's last failure set and when it last
posted, and for each e-mail audience (the admins, each owner's team) the thread that
its failures started, so repeats reply in it and the recovery closes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field

from hpc_handbook.data.files import DataModel, parse_json, read_data_text, write_json

STATE_FORMAT: Literal[2] = 2
_HINT = "delete {name} to start afresh"


class ChatState(DataModel):
    #: Which failures the last message reported.
    signature: str
    #: How many runs in a row had these failures.
    repeats: int = 1
    #: When the webhook last got a message (ISO 8601, UTC); None: never for these failures.
    last_sent: str | None = None


class MailThread(DataModel):
    """The thread one audience's failures started."""

    signature: str
    repeats: int = 1
    subject: str
    #: Message-IDs, first to last: the first starts the thread, replies name them all.
    message_ids: list[str] = Field(min_length=1)


class NotifyState(DataModel):
    format_version: Literal[2] = Field(default=STATE_FORMAT, alias="format")
    #: None: the chat has nothing open (no failures, or a recovery already posted).
    chat: ChatState | None = None
    #: Open threads by audience: "admins", or "owner:" and the owner's name.
    email: dict[str, MailThread] = Field(default_factory=dict)


class _StateFormat1(DataModel):
    """The state the home-made webhook protocol left: its failure set and the message to update."""

    format_version: Literal[1] = Field(alias="format")
    signature: str = ""
    message_id: str | None = None
    repeats: int = 1


def load_notify_state(path: Path) -> NotifyState | None:
    """The state the last run left; None before the first notification."""
    text = read_data_text(path)
    if text is None:
        return None
    hint = _HINT.format(name=path.name)
    try:
        version = json.loads(text).get("format")
    except (json.JSONDecodeError, AttributeError):
        version = None
    if version == 1:
        # A state from before the chat webhooks: its failures count as posted, not as new.
        old = parse_json(text, _StateFormat1, file=path, hint=hint)
        chat = ChatState(signature=old.signature, repeats=old.repeats) if old.signature else None
        return NotifyState(chat=chat)
    return parse_json(text, NotifyState, file=path, hint=hint)


def write_notify_state(path: Path, state: NotifyState) -> None:
    write_json(path, state)
