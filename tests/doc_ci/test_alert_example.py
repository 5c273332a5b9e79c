"""Recording an alert for the admins' page: the planted failure, the capture, the sanitizing."""

from __future__ import annotations

import json
import smtplib
import socket
import urllib.request
from email.message import EmailMessage
from pathlib import Path

import nbformat
import pytest

from hpc_handbook.data.alert_example import EMAIL_HEADERS
from hpc_handbook.doc_ci.notify.example import (
    PLANTED_EXAMPLE,
    Inbox,
    accounts,
    leaks,
    listening,
    plant_failure,
    recorded_email,
    sanitizer,
)
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.profile import load_profile

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def profile():
    return load_profile(REPO / "site.yml")


def test_the_planted_copy_records_an_older_python_and_nothing_else(tmp_path: Path) -> None:
    source = REPO / "examples" / f"{PLANTED_EXAMPLE}.ipynb"
    planted = plant_failure(source, tmp_path / "copy.ipynb")
    major, minor = planted.found.removeprefix("Python ").split(".")
    assert planted.recorded == f"Python {major}.{int(minor) - 1}"
    original, copy = nbformat.read(source, 4), nbformat.read(tmp_path / "copy.ipynb", 4)
    changed = [
        (before.outputs, after.outputs)
        for before, after in zip(original.cells, copy.cells, strict=True)
        if before.get("outputs") != after.get("outputs")
    ]
    assert len(changed) == 1 and planted.recorded in json.dumps(changed[0][1])
    assert original.metadata == copy.metadata


def test_an_example_without_a_python_version_cannot_be_planted(tmp_path: Path) -> None:
    source = tmp_path / "plain.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), source)
    with pytest.raises(HandbookInputError, match="Python version"):
        plant_failure(source, tmp_path / "copy.ipynb")


def test_the_loopback_servers_receive_the_mail_and_the_chat_post() -> None:
    inbox = Inbox()
    with listening(inbox) as (smtp, webhook):
        host, port = smtp.split(":")
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@example.org", "b@example.org", "Doc CI"
        message.set_content("failing")
        with smtplib.SMTP(host, int(port), timeout=10) as server:
            server.send_message(message)
        request = urllib.request.Request(
            webhook, data=json.dumps({"text": "**failing**"}).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
    assert [m["Subject"] for m in inbox.mail] == ["Doc CI"] and inbox.chat == ["**failing**"]


def test_a_recorded_mail_names_no_account_host_or_folder_and_keeps_its_lines(profile, tmp_path: Path) -> None:
    user = accounts(profile)[0]
    host = socket.gethostname()
    message = EmailMessage()
    message["From"], message["To"] = "doc-ci@rcc.example.org", "admins@rcc.example.org"
    message["Subject"], message["Date"] = "Doc CI at RCC: 1 failing", "Sun, 06 Dec 2026 19:05:54 +0000"
    message.set_content(f"Submitted batch job 4711 as {user} on {host}\r\nin {tmp_path}/run\r\n")
    message.add_attachment(f"# Report\r\nhome of {user}\r\n", subtype="markdown", filename="examples.md")
    clean = sanitizer(profile, examples=REPO / "examples", work=tmp_path)
    recorded = recorded_email(message, clean)
    assert list(recorded.headers) == list(EMAIL_HEADERS)
    assert recorded.body == "Submitted batch job <jobid> as <user> on <host>\nin <workdir>/run\n"
    assert recorded.attachments == {"examples.md": "# Report\nhome of <user>\n"}
    assert leaks(recorded.model_dump_json(), profile, tmp_path) == []


def test_what_still_names_the_machine_or_a_secret_is_found(profile, tmp_path: Path) -> None:
    user = accounts(profile)[0]
    found = leaks(f"{user} at 127.0.0.1 in {tmp_path}: password=hunter2", profile, tmp_path)
    assert {user, "127.0.0.1", str(tmp_path), "a token or password"} <= set(found)
    assert leaks("token=<token>, <user> at <host>", profile, tmp_path) == []
