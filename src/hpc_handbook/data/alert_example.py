"""A real alert of the doc CI, for the admins' page: what a failing run's e-mail and chat message say.

`hpc-handbook alert-example` records it from a run on the site with one example planted to
fail, sanitized as outputs are; the doc-CI page shows it. Nobody edits it by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from hpc_handbook.data.files import DataModel, read_json, require, write_json

#: Where the recording goes, relative to the repository root.
ALERT_EXAMPLE = Path("book/data/alert-example.json")
DATA_FORMAT: Literal[1] = 1
RECORD_COMMAND = "hpc-handbook alert-example"
#: The e-mail's headers a recording keeps, in the order a mail client shows them.
EMAIL_HEADERS = ("From", "To", "Subject", "Date")
_HINT = f"re-record it with `{RECORD_COMMAND}` (part of `nox -s refresh`)"


class RecordedEmail(DataModel):
    """One message as the SMTP server received it."""

    #: The EMAIL_HEADERS.
    headers: dict[str, str]
    body: str
    #: Each attachment's text, by file name.
    attachments: dict[str, str] = Field(default_factory=dict)


class PlantedFailure(DataModel):
    """What the recording changed in its copy of an example, so that the site's output differs."""

    example: str
    #: The output the copy says the cell gives, and the output the site gives.
    recorded: str
    found: str


class AlertExample(DataModel):
    format_version: Literal[1] = Field(default=DATA_FORMAT, alias="format")
    generated_by: str = RECORD_COMMAND
    site: str
    #: The day of the run, `YYYY-MM-DD`.
    date: str
    planted: PlantedFailure
    email: RecordedEmail
    #: The chat message's Markdown, as the webhook received it.
    chat: str


def load_alert_example(path: Path = ALERT_EXAMPLE) -> AlertExample:
    return require(read_json(path, AlertExample, hint=_HINT), path, what=f"a recorded alert ({_HINT})")


def write_alert_example(path: Path, example: AlertExample) -> None:
    write_json(path, example)
