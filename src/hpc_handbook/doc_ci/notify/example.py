"""`hpc-handbook alert-example`: record the alerts of a real failing run, for the admins' page.

A copy of one novice example goes into a temporary examples folder with its recorded Python
version one minor release older, as the page would read after an update of the kernel. The
doc CI runs that copy on the site as a nightly run does (through the hub, as its account),
with its reports in the temporary folder and its alerts sent to an SMTP server and a chat
webhook that this process runs on loopback. What they receive is sanitized with the doc CI's
own rules (job ids, dates, this machine's host, its accounts and folders) and checked for
anything that still names them, then written to `book/data/alert-example.json`.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nbformat

from hpc_handbook.data.alert_example import (
    EMAIL_HEADERS,
    AlertExample,
    PlantedFailure,
    RecordedEmail,
)
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.examples.sanitize import Sanitizer, load_sanitizer
from hpc_handbook.profile import Profile

#: The example whose copy is planted to fail: every handbook has it, and it prints Python's version.
PLANTED_EXAMPLE = "start-first-notebook"
_PYTHON_VERSION = re.compile(r"\bPython (\d+)\.(\d+)\b")
RUN_TIMEOUT_S = 900
#: Where the report would be published: the GitLab template's artifact link, its job id left out.
REPORT_URL = "{repository}/-/jobs/<jobid>/artifacts/file/_build/reports/examples.md"


class AlertRecordingError(RuntimeError):
    """The run did not send the alerts it should have; the message says what came instead."""


def plant_failure(source: Path, target: Path) -> PlantedFailure:
    """Copy the example, its recorded Python version one minor release older; what was changed."""
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text = output.get("text")
            match = _PYTHON_VERSION.search(text) if isinstance(text, str) else None
            if match is None or int(match[2]) == 0:
                continue
            found = match[0]
            recorded = f"Python {match[1]}.{int(match[2]) - 1}"
            output["text"] = text[: match.start()] + recorded + text[match.end() :]
            nbformat.write(notebook, target)
            return PlantedFailure(example=source.stem, recorded=recorded, found=found)
    raise HandbookInputError(source, "", "expected an output that prints the kernel's Python version")


@dataclass
class Inbox:
    """What the loopback SMTP server and chat webhook received."""

    mail: list[EmailMessage] = field(default_factory=list)
    chat: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        if isinstance(message, EmailMessage):
            self.mail.append(message)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def listening(inbox: Inbox) -> Iterator[tuple[str, str]]:
    """An SMTP server and a chat webhook on loopback; yields the `--smtp` and `--notify-webhook` values."""
    from aiosmtpd.controller import Controller

    class Webhook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            inbox.chat.append(str(json.loads(self.rfile.read(length)).get("text", "")))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    port = _free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    hook = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    thread = threading.Thread(target=hook.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{port}", f"http://127.0.0.1:{hook.server_address[1]}/hooks/doc-ci"
    finally:
        hook.shutdown()
        hook.server_close()
        smtp.stop()


def run_planted(
    profile: Profile, *, site: str | None, examples: Path, work: Path, smtp: str, webhook: str
) -> subprocess.CompletedProcess[str]:
    """The doc CI on the planted copy, as a nightly run: through the hub, alerting both channels."""
    command = [
        sys.executable, "-m", "hpc_handbook.cli", "examples", *(["--site", site] if site else []),
        "--examples-dir", str(examples), "--report-dir", str(work / "reports"),
        "--notify-state", str(work / "notify-state.json"), "--notify-webhook", webhook,
        "--smtp", smtp, "--no-smtp-starttls",
        "--report-url", REPORT_URL.format(repository=str(profile.site.repository_url).rstrip("/")),
        PLANTED_EXAMPLE, "--notify-email", profile.support.email,
    ]  # fmt: skip
    # No login and no other webhook: the alerts go to this process only.
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("HANDBOOK_SMTP_USER", "HANDBOOK_SMTP_PASSWORD", "HANDBOOK_NOTIFY_WEBHOOK")
    }
    return subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=environment, check=False
    )


def accounts(profile: Profile) -> list[str]:
    """The site's test accounts (and the load test's prefix), which no recording may name."""
    site = profile.reference_site
    if site is None:
        return []
    load_test = [site.load_test.name_prefix] if site.load_test is not None else []
    return [*(user.name for user in site.users), *load_test]


def sanitizer(profile: Profile, *, examples: Path, work: Path) -> Sanitizer:
    return load_sanitizer(
        examples / "sanitize.cfg",
        workdirs=[str(work)],
        filesystems={f.name: f.path for f in profile.filesystems},
        users=accounts(profile),
    )


def leaks(text: str, profile: Profile, work: Path) -> list[str]:
    """What in a sanitized text still names this machine, its accounts or the run's folder."""
    names = {socket.gethostname(), socket.getfqdn(), str(work), "127.0.0.1", *accounts(profile)}
    found = [name for name in sorted(names) if name and name != "localhost" and name in text]
    if re.search(r"(?i)\b(token|password|secret)\s*[=:]\s*(?!<token>)\S", text):
        found.append("a token or password")
    return found


def _text(part: Any, clean: Sanitizer) -> str:
    # Mail travels with CRLF line ends; the page shows lines.
    return clean(str(part.get_content()).replace("\r\n", "\n"))


def recorded_email(message: EmailMessage, clean: Sanitizer) -> RecordedEmail:
    body = message.get_body(preferencelist=("plain",))
    attachments = {str(part.get_filename()): _text(part, clean) for part in message.iter_attachments()}
    return RecordedEmail(
        headers={
            name: clean(str(message[name])) if name != "Date" else str(message[name])
            for name in EMAIL_HEADERS
        },
        body=_text(body, clean) if body is not None else "",
        attachments=attachments,
    )


def record(profile: Profile, *, site: str | None, examples_dir: Path) -> AlertExample:
    """Run the planted example; its sanitized alerts, or AlertRecordingError unless one of each came."""
    with tempfile.TemporaryDirectory(prefix="alert-example-") as folder:
        work = Path(folder)
        examples = work / "examples"
        examples.mkdir()
        shutil.copyfile(examples_dir / "sanitize.cfg", examples / "sanitize.cfg")
        if (examples_dir / "assets").is_dir():
            shutil.copytree(examples_dir / "assets", examples / "assets")
        planted = plant_failure(
            examples_dir / f"{PLANTED_EXAMPLE}.ipynb", examples / f"{PLANTED_EXAMPLE}.ipynb"
        )
        inbox = Inbox()
        with listening(inbox) as (smtp, webhook):
            done = run_planted(profile, site=site, examples=examples, work=work, smtp=smtp, webhook=webhook)
        if done.returncode != 1 or len(inbox.mail) != 1 or len(inbox.chat) != 1:
            raise AlertRecordingError(
                f"expected the run to fail (exit code 1) and send one e-mail and one chat message; it exited "
                f"with {done.returncode} and sent {len(inbox.mail)} and {len(inbox.chat)}:\n"
                f"{(done.stdout + done.stderr).strip()[-2000:]}"
            )
        clean = sanitizer(profile, examples=examples, work=work)
        recorded = AlertExample(
            site=profile.site.short_name,
            date=dt.date.today().isoformat(),
            planted=planted,
            email=recorded_email(inbox.mail[0], clean),
            chat=clean(inbox.chat[0]),
        )
        found = leaks(recorded.model_dump_json(), profile, work)
    if found:
        raise AlertRecordingError(f"the sanitized alerts still name {', '.join(found)}; nothing was written")
    return recorded
