"""The profile's `notify` section: whom the doc CI tells about failures, and through which server.

The profile names what is no secret: the SMTP server, the sender, the admins' addresses and
which team's addresses each example owner maps to. Secrets never come from the repository:
the SMTP login comes from a file outside it or from the environment. Addresses and servers are
checked when the profile is read, so a typo stops a run before its examples start.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from hpc_handbook.profile.base import Strict

#: The submission port: STARTTLS, then login, as mail servers expect from programs.
DEFAULT_SMTP_PORT = 587

# One @, no spaces, a dot in the domain: what a typo breaks, without pretending to be RFC 5322.
_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
_SERVER = re.compile(
    r"^(?P<host>[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:(?P<port>\d{1,5}))?$"
)


def check_address(value: str) -> str:
    """An e-mail address, or ValueError saying what is wrong with it."""
    if not _ADDRESS.match(value):
        raise ValueError(f"an e-mail address such as admins@example.org, got {value!r}")
    return value


def split_server(value: str) -> tuple[str, int]:
    """`HOST[:PORT]` as (host, port); ValueError for anything else."""
    match = _SERVER.match(value)
    port = int(match["port"]) if match and match["port"] else DEFAULT_SMTP_PORT
    if match is None or not 0 < port < 65536:
        raise ValueError(f"HOST:PORT of an SMTP server, such as mail.example.org:587, got {value!r}")
    return match["host"].strip("[]"), port


def _check_server(value: str) -> str:
    split_server(value)
    return value


def _absolute(path: Path) -> Path:
    # A relative path would be read from the checkout, where a secret must never be.
    if not path.is_absolute():
        raise ValueError(f"an absolute path outside the repository, got {str(path)!r}")
    return path


Address = Annotated[str, AfterValidator(check_address)]
Server = Annotated[str, AfterValidator(_check_server)]
Owner = Annotated[str, StringConstraints(min_length=1, pattern=r"^\S+$")]


class SmtpSetup(Strict):
    server: Server = Field(description="The SMTP server as HOST:PORT (port 587 when left out).")
    starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS before sending.")
    ca_file: Path | None = Field(
        default=None, description="CA certificates to check the server's certificate with (default: system)."
    )
    login_file: Annotated[Path, AfterValidator(_absolute)] | None = Field(
        default=None,
        description="A file outside the repository, readable by the doc CI only, holding `user:password`.",
    )


class EmailSetup(Strict):
    sender: Address | None = Field(
        default=None, description="The From address (default: doc-ci@ the support address's domain)."
    )
    to: list[Address] = Field(default_factory=list, description="Who hears of every failure.")
    smtp: SmtpSetup | None = None
    owners: dict[Owner, list[Address]] = Field(
        default_factory=dict,
        description="Each example owner's addresses: a team hears of the failures of its own pages.",
    )


class NotifySetup(Strict):
    """The profile's `notify` section."""

    email: EmailSetup = EmailSetup()
