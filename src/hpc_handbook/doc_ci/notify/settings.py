"""Where a run's notifications go: the command-line flags, over the profile's `notify` section.

Secrets never come from the repository: the SMTP login comes from a file outside it or from
the environment, and the chat webhook's address (which is its own password) from a flag or
the environment. Flags are checked when the command line is read, so a typo stops the run
before the examples start, with the flag that holds it.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from hpc_handbook.errors import HandbookInputError
from hpc_handbook.profile.notify import EmailSetup, NotifySetup, SmtpSetup, check_address, split_server

#: The chat webhook's address, when not given on the command line (a CI system's masked variable).
WEBHOOK_ENV = "HANDBOOK_NOTIFY_WEBHOOK"
#: The SMTP login, when no login file is given: both must be set.
SMTP_USER_ENV = "HANDBOOK_SMTP_USER"
SMTP_PASSWORD_ENV = "HANDBOOK_SMTP_PASSWORD"
COMMAND_LINE = "command line"

# --- The command line ---------------------------------------------------------------------------


def _address_argument(value: str) -> str:
    try:
        return check_address(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected {error}") from None


def _server_argument(value: str) -> str:
    try:
        split_server(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected {error}") from None
    return value


def add_notify_options(parser: argparse.ArgumentParser) -> None:
    """The flags of `hpc-handbook examples` that say whom to tell about the run."""
    group = parser.add_argument_group("notifications")
    group.add_argument(
        "--notify-webhook",
        metavar="URL",
        default=os.environ.get(WEBHOOK_ENV),
        help="post to this Slack- or Mattermost-compatible incoming webhook: one message per new set "
        f"of failures, at most one reminder a day (default: ${WEBHOOK_ENV})",
    )
    group.add_argument(
        "--notify-email",
        nargs="*",
        metavar="ADDRESS",
        type=_address_argument,
        help="e-mail these addresses (and notify.email.to and each owner's team from the profile); "
        "repeats of the same failures reply in one thread",
    )
    group.add_argument(
        "--smtp",
        metavar="HOST:PORT",
        type=_server_argument,
        help="the SMTP server (default: notify.email.smtp.server from the profile)",
    )
    group.add_argument(
        "--smtp-starttls",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="upgrade to TLS before sending (default: notify.email.smtp.starttls, else on)",
    )
    group.add_argument(
        "--smtp-login-file",
        metavar="FILE",
        type=Path,
        help=f"a file holding user:password (default: notify.email.smtp.login_file, else "
        f"${SMTP_USER_ENV} and ${SMTP_PASSWORD_ENV}, else no login)",
    )
    group.add_argument("--notify-state", default="_build/reports/notify-state.json")
    group.add_argument("--report-url", help="link to the published report in the notifications")


@dataclass(frozen=True)
class SmtpLogin:
    user: str
    password: str = ""

    def __repr__(self) -> str:
        # Never let the password reach a log or a traceback.
        return f"SmtpLogin(user={self.user!r})"


@dataclass(frozen=True)
class EmailChannel:
    host: str
    port: int
    starttls: bool
    ca_file: Path | None
    login: SmtpLogin | None
    sender: str
    #: Who hears of every failure.
    admins: tuple[str, ...]
    #: Each owner's addresses.
    owners: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class NotifyChannels:
    webhook: str | None
    email: EmailChannel | None
    state_file: Path
    report_url: str | None


def _read_login(path: Path, *, where: str) -> SmtpLogin:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise HandbookInputError(
            path, "", f"cannot read the SMTP login file ({reason}); given by {where}"
        ) from None
    user, colon, password = text.partition(":")
    if not user or not colon or "\n" in text:
        raise HandbookInputError(path, "", f"expected one line user:password; given by {where}")
    return SmtpLogin(user, password)


def _login(args: argparse.Namespace, smtp: SmtpSetup | None) -> SmtpLogin | None:
    if args.smtp_login_file is not None:
        return _read_login(args.smtp_login_file, where="--smtp-login-file")
    if smtp is not None and smtp.login_file is not None:
        return _read_login(smtp.login_file, where="notify.email.smtp.login_file")
    user, password = os.environ.get(SMTP_USER_ENV), os.environ.get(SMTP_PASSWORD_ENV)
    if user and password is None:
        raise HandbookInputError(
            "environment", SMTP_PASSWORD_ENV, f"expected it to be set with {SMTP_USER_ENV}"
        )
    return SmtpLogin(user, password or "") if user else None


def _sender(setup: EmailSetup, support_email: str) -> str:
    return setup.sender or f"doc-ci@{support_email.rpartition('@')[2]}"


def resolve_channels(
    args: argparse.Namespace, *, setup: NotifySetup, profile_file: str | Path, support_email: str
) -> NotifyChannels:
    """The channels this run notifies, from the flags and the profile; bad input before the run starts."""
    email = None
    if args.notify_email is not None:
        profile_email = setup.email
        server = args.smtp or (profile_email.smtp.server if profile_email.smtp else None)
        if server is None:
            raise HandbookInputError(
                COMMAND_LINE,
                "--smtp",
                f"--notify-email needs an SMTP server: give --smtp HOST:PORT or set notify.email.smtp.server "
                f"in {profile_file}",
            )
        admins = tuple(dict.fromkeys([*args.notify_email, *profile_email.to]))
        if not admins and not profile_email.owners:
            raise HandbookInputError(
                COMMAND_LINE,
                "--notify-email",
                f"expected at least one address, or notify.email.to or notify.email.owners in {profile_file}",
            )
        host, port = split_server(server)
        smtp = profile_email.smtp
        starttls = args.smtp_starttls if args.smtp_starttls is not None else (smtp.starttls if smtp else True)
        email = EmailChannel(
            host=host,
            port=port,
            starttls=starttls,
            ca_file=smtp.ca_file if smtp else None,
            login=_login(args, smtp),
            sender=_sender(profile_email, support_email),
            admins=admins,
            owners={owner: tuple(addresses) for owner, addresses in profile_email.owners.items()},
        )
    return NotifyChannels(
        webhook=args.notify_webhook or None,
        email=email,
        state_file=Path(args.notify_state),
        report_url=args.report_url,
    )
