"""E-mail reaches a real SMTP server on loopback: one thread per set of failures, closed on recovery.

The server is aiosmtpd with STARTTLS (a certificate made for the test) and a login,
as a centre's submission server asks for; the tests read what it delivered.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email
import email.policy
import socket
import ssl
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from hpc_handbook.doc_ci.notify.alerts import notify_run
from hpc_handbook.doc_ci.notify.settings import (
    EmailChannel,
    NotifyChannels,
    SmtpLogin,
    add_notify_options,
    resolve_channels,
)
from hpc_handbook.doc_ci.run.execute import JobResult
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.profile import Profile

USER, PASSWORD = "doc-ci", "not-a-real-password"
NOW = dt.datetime(2026, 12, 2, 6, 30, tzinfo=dt.UTC)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: the server's, and the CA the client trusts."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class Inbox:
    """Keeps every message the server accepts, with the envelope's recipients."""

    def __init__(self) -> None:
        self.delivered: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.delivered.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for rcpt, message in self.delivered if address in rcpt]


def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    # handled=False: aiosmtpd answers a refusal with 535, as a real server does.
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server(certificate: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def channel(port: int, ca: Path, *, password: str = PASSWORD, **changes) -> EmailChannel:
    values = dict(
        host="127.0.0.1",
        port=port,
        starttls=True,
        ca_file=ca,
        login=SmtpLogin(USER, password),
        sender="doc-ci@rcc.example.org",
        admins=("admins@rcc.example.org",),
        owners={"software-team": ("software@rcc.example.org",), "docs-team": ("docs@rcc.example.org",)},
    )
    values.update(changes)
    return EmailChannel(**values)  # type: ignore[arg-type]


def results(*failing: str) -> list[JobResult]:
    owners = {"first-notebook": "docs-team", "batch-job": "software-team", "module-kernel": "software-team"}
    return [
        JobResult(
            example=name,
            kernel="python3",
            status="failed" if name in failing else "passed",
            reason="CellExecutionError: ModuleNotFoundError: No module named 'numpy'"
            if name in failing
            else "",
            cell=3,
            page=f"recipes/{name}",
            owner=owner,
        )
        for name, owner in owners.items()
    ]


def send(run: list[JobResult], *, email_channel: EmailChannel, state: Path, report: Path, profile: Profile):
    channels = NotifyChannels(webhook=None, email=email_channel, state_file=state, report_url=None)
    return notify_run(
        run,
        channels=channels,
        profile=profile,
        report_url="https://ci.example.org/report",
        report_path=report,
        now=NOW,
    )


def test_repeats_reply_in_one_thread_and_each_team_gets_its_own_pages(
    smtp_server, certificate, tmp_path, profile
):
    inbox, port = smtp_server
    mail = channel(port, certificate[0])
    state, report = tmp_path / "notify-state.json", tmp_path / "examples.md"
    report.write_text("# Doc CI report for RCC\n", encoding="utf-8")

    first = send(
        results("batch-job", "module-kernel"), email_channel=mail, state=state, report=report, profile=profile
    )
    assert first[0].error is None
    assert set(first[0].actions) == {"failing to admins", "failing to owner:software-team"}
    (opening,) = inbox.to("admins@rcc.example.org")
    assert opening["Subject"] == "Doc CI at RCC: 2 example runs failing (all pages)"
    body = opening.get_body(("plain",)).get_content()
    assert "batch-job on kernel python3, cell 3; owner: software-team" in body
    assert "https://docs.rcc.example.org/jupyter/recipes/batch-job.html" in body
    assert "No module named 'numpy'" in body
    attachment = next(opening.iter_attachments())
    assert attachment.get_filename() == "examples.md" and attachment.get_content_type() == "text/markdown"
    assert attachment.get_content().splitlines() == ["# Doc CI report for RCC"]
    # The software team hears of its own pages; the docs team, with none failing, of nothing.
    (team,) = inbox.to("software@rcc.example.org")
    assert "the pages of software-team" in team["Subject"]
    assert inbox.to("docs@rcc.example.org") == []

    second = send(
        results("batch-job", "module-kernel"), email_channel=mail, state=state, report=report, profile=profile
    )
    assert set(second[0].actions) == {"replied to admins", "replied to owner:software-team"}
    reply = inbox.to("admins@rcc.example.org")[1]
    assert reply["In-Reply-To"] == opening["Message-ID"]
    assert reply["References"].split() == [opening["Message-ID"]]
    assert reply["Subject"] == f"Re: {opening['Subject']}"
    assert "2 runs in a row" in reply.get_body(("plain",)).get_content()

    third = send(
        results("batch-job", "module-kernel"), email_channel=mail, state=state, report=report, profile=profile
    )
    assert third[0].error is None
    again = inbox.to("admins@rcc.example.org")[2]
    assert again["In-Reply-To"] == reply["Message-ID"]
    assert again["References"].split() == [opening["Message-ID"], reply["Message-ID"]]

    # The docs team's page breaks too: a new set of failures is a new thread for the admins.
    fourth = send(
        results("first-notebook", "batch-job", "module-kernel"),
        email_channel=mail,
        state=state,
        report=report,
        profile=profile,
    )
    assert set(fourth[0].actions) == {
        "failing to admins",
        "replied to owner:software-team",
        "failing to owner:docs-team",
    }
    new_thread = inbox.to("admins@rcc.example.org")[3]
    assert new_thread["In-Reply-To"] is None and new_thread["References"] is None

    fixed = send(results(), email_channel=mail, state=state, report=report, profile=profile)
    assert set(fixed[0].actions) == {
        "recovered to admins",
        "recovered to owner:software-team",
        "recovered to owner:docs-team",
    }
    closing = inbox.to("admins@rcc.example.org")[4]
    assert closing["In-Reply-To"] == new_thread["Message-ID"]
    assert "pass again" in closing.get_body(("plain",)).get_content()
    assert closing.get_content_type() == "text/plain"  # a recovery carries no report

    count = len(inbox.delivered)
    quiet = send(results(), email_channel=mail, state=state, report=report, profile=profile)
    assert quiet[0].actions == ("none",) and len(inbox.delivered) == count


def test_a_refused_login_is_reported_once_and_the_next_run_starts_the_thread(
    smtp_server, certificate, tmp_path, profile
):
    inbox, port = smtp_server
    state, report = tmp_path / "notify-state.json", tmp_path / "examples.md"
    refused = send(
        results("batch-job"),
        email_channel=channel(port, certificate[0], password="wrong"),
        state=state,
        report=report,
        profile=profile,
    )
    (outcome,) = refused
    assert outcome.actions == ()
    assert (
        outcome.error is not None
        and "refused the login of 'doc-ci'" in outcome.error
        and "535" in outcome.error
    )
    assert PASSWORD not in outcome.error and "wrong" not in outcome.error
    assert inbox.delivered == []
    # Nothing was sent, so nothing is remembered: the next run opens the thread.
    retried = send(
        results("batch-job"),
        email_channel=channel(port, certificate[0]),
        state=state,
        report=report,
        profile=profile,
    )
    assert retried[0].error is None and "failing to admins" in retried[0].actions


def test_an_unreachable_server_and_an_untrusted_certificate_are_reasons(
    smtp_server, certificate, tmp_path, profile
):
    _, port = smtp_server
    state, report = tmp_path / "notify-state.json", tmp_path / "examples.md"
    (down,) = send(
        results("batch-job"),
        email_channel=channel(free_port(), certificate[0]),
        state=state,
        report=report,
        profile=profile,
    )
    assert down.error is not None and down.error.startswith("cannot reach the SMTP server 127.0.0.1:")
    (untrusted,) = send(
        results("batch-job"), email_channel=channel(port, None), state=state, report=report, profile=profile
    )
    assert untrusted.error is not None and "TLS with the SMTP server" in untrusted.error


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_notify_options(parser)
    return parser.parse_args(argv)


def test_a_malformed_address_or_server_is_an_argument_error(capsys) -> None:
    for argv in (
        ["--notify-email", "admins.example.org"],
        ["--notify-email", "a@b.org", "--smtp", "mail:99999"],
    ):
        parser = argparse.ArgumentParser(prog="hpc-handbook examples")
        add_notify_options(parser)
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(argv)
        assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "argument --notify-email: expected an e-mail address" in error and "'admins.example.org'" in error
    assert "argument --smtp: expected HOST:PORT" in error


def test_email_needs_a_server_and_the_login_comes_from_a_file_or_the_environment(
    profile: Profile, tmp_path, monkeypatch
) -> None:
    setup = profile.notify
    with pytest.raises(HandbookInputError) as error:
        resolve_channels(
            parse("--notify-email", "a@b.org"),
            setup=setup,
            profile_file="site.yml",
            support_email="x@rcc.example.org",
        )
    assert error.value.where == "--smtp"

    login = tmp_path / "login"
    login.write_text("doc-ci:secret:with:colons\n", encoding="utf-8")
    channels = resolve_channels(
        parse("--notify-email", "a@b.org", "--smtp", "mail.example.org", "--smtp-login-file", str(login)),
        setup=setup,
        profile_file="site.yml",
        support_email="jupyter-support@rcc.example.org",
    )
    assert channels.email is not None
    assert (channels.email.host, channels.email.port, channels.email.starttls) == (
        "mail.example.org",
        587,
        True,
    )
    assert channels.email.login == SmtpLogin("doc-ci", "secret:with:colons")
    assert "secret" not in repr(channels.email.login)
    assert channels.email.sender == "doc-ci@rcc.example.org"

    monkeypatch.setenv("HANDBOOK_SMTP_USER", "svc")
    monkeypatch.setenv("HANDBOOK_SMTP_PASSWORD", "pw")
    from_env = resolve_channels(
        parse("--notify-email", "a@b.org", "--smtp", "127.0.0.1:2525", "--no-smtp-starttls"),
        setup=setup,
        profile_file="site.yml",
        support_email="x@rcc.example.org",
    )
    assert from_env.email is not None and from_env.email.login == SmtpLogin("svc", "pw")
    assert from_env.email.starttls is False

    login.write_text("no colon here\n", encoding="utf-8")
    with pytest.raises(HandbookInputError) as bad:
        resolve_channels(
            parse("--notify-email", "a@b.org", "--smtp", "m.example.org:25", "--smtp-login-file", str(login)),
            setup=setup,
            profile_file="site.yml",
            support_email="x@rcc.example.org",
        )
    assert bad.value.file == str(login) and "user:password" in bad.value.problem
