"""E-mail for the doc CI: one thread per set of failures and audience, closed by the recovery.

The admins hear of every failure; each owner whose addresses the profile lists hears of
the failures of its own pages, in a thread of its own. A failing run sends one message
to each audience with failures; when the next run fails in the same way, its message
replies to the thread (`In-Reply-To` and `References`), so mail clients show one
conversation; the first run without them sends a reply that closes the thread.

Only the standard library is used: smtplib with STARTTLS and an optional login.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from hpc_handbook.data.notify_state import MailThread
from hpc_handbook.doc_ci.notify.messages import (
    TIMEOUT_S,
    NotifyError,
    failure_lines,
    failure_signature,
    wording,
)
from hpc_handbook.doc_ci.notify.settings import EmailChannel
from hpc_handbook.doc_ci.run.execute import JobResult
from hpc_handbook.profile import Profile

ADMINS = "admins"
#: A reply names the thread's first message and its latest ones; a thread that runs for
#: months would otherwise grow a header longer than some servers accept.
REFERENCES_KEPT = 10


@dataclass(frozen=True)
class Audience:
    key: str
    label: str
    recipients: tuple[str, ...]
    failed: tuple[JobResult, ...]


def audiences(results: Sequence[JobResult], channel: EmailChannel) -> list[Audience]:
    email = wording()["email"]
    failed = tuple(r for r in results if r.status == "failed")
    found = []
    if channel.admins:
        found.append(Audience(ADMINS, email["audience_admins"], channel.admins, failed))
    for owner, addresses in sorted(channel.owners.items()):
        if addresses:
            found.append(
                Audience(
                    f"owner:{owner}",
                    email["audience_owner"].format(owner=owner),
                    addresses,
                    tuple(r for r in failed if r.owner == owner),
                )
            )
    return found


@dataclass(frozen=True)
class Planned:
    audience: Audience
    message: EmailMessage
    action: str  # "failing", "replied" or "recovered"
    #: The thread after this message; None when it closes the thread.
    thread: MailThread | None


def _message(
    *, channel: EmailChannel, to: Sequence[str], subject: str, body: str, now: dt.datetime
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = channel.sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=channel.sender.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"  # no vacation replies to the doc CI
    message.set_content(body)
    return message


def _reply_to(message: EmailMessage, thread: MailThread) -> None:
    ids = thread.message_ids
    message["In-Reply-To"] = ids[-1]
    message["References"] = " ".join([ids[0], *ids[1:][-REFERENCES_KEPT:]])


#: Writes one message to the audience from its subject and body.
Compose = Callable[[str, str], EmailMessage]


def _reply_in_thread(
    thread: MailThread, email: dict[str, Any], values: dict[str, Any], compose: Compose
) -> tuple[EmailMessage, MailThread]:
    """The same failures again: a reply in their thread, which remembers the latest messages."""
    repeats = thread.repeats + 1
    message = compose(f"Re: {thread.subject}", email["repeated"].format(**values, repeats=repeats))
    _reply_to(message, thread)
    ids = [*thread.message_ids, str(message["Message-ID"])]
    kept = [ids[0], *ids[1:][-REFERENCES_KEPT:]]
    return message, thread.model_copy(update={"repeats": repeats, "message_ids": kept})


def _new_thread(
    signature: str, email: dict[str, Any], values: dict[str, Any], compose: Compose
) -> tuple[EmailMessage, MailThread]:
    """New failures: the first message of a thread of their own."""
    subject = email["subject"].format(**values)
    message = compose(subject, email["failing"].format(**values))
    thread = MailThread(
        signature=signature, repeats=1, subject=subject, message_ids=[str(message["Message-ID"])]
    )
    return message, thread


def plan(
    audience: Audience,
    *,
    thread: MailThread | None,
    channel: EmailChannel,
    runs: int,
    profile: Profile,
    report_url: str,
    report_path: Path | None,
    now: dt.datetime,
) -> Planned | None:
    """The message this audience gets for this run, if any."""
    email = wording()["email"]
    values = {
        "site": profile.site.short_name,
        "runs": runs,
        "failed": len(audience.failed),
        "audience": audience.label,
        "report_url": report_url,
        "failures": failure_lines(audience.failed, email["failure"], profile=profile),
    }

    def compose(subject: str, body: str) -> EmailMessage:
        return _message(channel=channel, to=audience.recipients, subject=subject, body=body, now=now)

    signature = failure_signature(audience.failed)
    if not signature:
        if thread is None:
            return None
        message = compose(f"Re: {thread.subject}", email["recovered"].format(**values))
        _reply_to(message, thread)
        return Planned(audience, message, "recovered", None)
    if thread is not None and thread.signature == signature:
        message, after = _reply_in_thread(thread, email, values, compose)
        action = "replied"
    else:
        message, after = _new_thread(signature, email, values, compose)
        action = "failing"
    if report_path is not None and report_path.is_file():
        message.add_attachment(
            report_path.read_text(encoding="utf-8"), subtype="markdown", filename=report_path.name
        )
    return Planned(audience, message, action, after)


def _reason(error: Exception, channel: EmailChannel) -> str:
    """One line that says what went wrong, for the admin who reads the CI log."""
    server = f"{channel.host}:{channel.port}"
    if isinstance(error, smtplib.SMTPAuthenticationError):
        user = channel.login.user if channel.login else "?"
        return f"the SMTP server {server} refused the login of {user!r}: {error.smtp_code} {_text(error)}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(f"{a} ({c} {_text(m)})" for a, (c, m) in error.recipients.items())
        return f"the SMTP server {server} refused every recipient: {refused}"
    if isinstance(error, smtplib.SMTPSenderRefused):
        return f"the SMTP server {server} refused the sender {error.sender}: {error.smtp_code} {_text(error)}"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"the SMTP server {server} answered {error.smtp_code} {_text(error)}"
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return f"the SMTP server {server}: {error}"
    if isinstance(error, ssl.SSLError):
        return f"TLS with the SMTP server {server} failed: {error.reason or error}"
    if isinstance(error, smtplib.SMTPException):
        return f"the SMTP server {server}: {error}"
    if isinstance(error, OSError):
        return f"cannot reach the SMTP server {server}: {error.strerror or error}"
    return f"the SMTP server {server}: {error}"


def _text(error: smtplib.SMTPResponseException | bytes | str) -> str:
    raw = error.smtp_error if isinstance(error, smtplib.SMTPResponseException) else error
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def deliver(messages: Sequence[EmailMessage], channel: EmailChannel, *, timeout: float = TIMEOUT_S) -> int:
    """Send the messages over one connection; return how many went, or raise NotifyError (after those)."""
    sent = 0
    try:
        with smtplib.SMTP(channel.host, channel.port, timeout=timeout) as smtp:
            smtp.ehlo()
            if channel.starttls:
                context = ssl.create_default_context(cafile=str(channel.ca_file) if channel.ca_file else None)
                smtp.starttls(context=context)
                smtp.ehlo()
            if channel.login is not None:
                smtp.login(channel.login.user, channel.login.password)
            for message in messages:
                smtp.send_message(message)
                sent += 1
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryError(sent, _reason(error, channel)) from None
    return sent


class DeliveryError(NotifyError):
    def __init__(self, sent: int, reason: str) -> None:
        self.sent = sent
        super().__init__(reason)


def notify_email(
    results: Sequence[JobResult],
    *,
    channel: EmailChannel,
    threads: dict[str, MailThread],
    profile: Profile,
    report_url: str,
    report_path: Path | None,
    now: dt.datetime,
) -> tuple[dict[str, MailThread], list[str], str | None]:
    """Send this run's messages; return the threads to keep, what was done, and why it failed."""
    planned = [
        p
        for audience in audiences(results, channel)
        if (
            p := plan(
                audience,
                thread=threads.get(audience.key),
                channel=channel,
                runs=len(results),
                profile=profile,
                report_url=report_url,
                report_path=report_path,
                now=now,
            )
        )
        is not None
    ]
    # Threads of audiences no longer in the profile are dropped, not answered.
    known = {a.key for a in audiences(results, channel)}
    kept = {key: thread for key, thread in threads.items() if key in known}
    if not planned:
        return kept, ["none"], None
    error_text = None
    try:
        sent = deliver([p.message for p in planned], channel)
    except DeliveryError as error:
        sent, error_text = error.sent, str(error)
    actions = []
    for item in planned[:sent]:
        actions.append(f"{item.action} to {item.audience.key}")
        if item.thread is None:
            kept.pop(item.audience.key, None)
        else:
            kept[item.audience.key] = item.thread
    return kept, actions, error_text
