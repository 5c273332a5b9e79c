"""Chat notifications reach a real webhook on loopback: one per new set of failures, reminders daily.

The receiver speaks what Slack's and Mattermost's incoming webhooks speak: a POST of
`{"text": ...}`, answered with `ok`. The command's own tests feed it a synthetic run:
a notifier that fails never changes the run's verdict or its exit code.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hpc_handbook.cli import main
from hpc_handbook.data.notify_state import load_notify_state
from hpc_handbook.doc_ci.notify.alerts import notify_run
from hpc_handbook.doc_ci.notify.settings import NotifyChannels
from hpc_handbook.doc_ci.run import runner
from hpc_handbook.doc_ci.run.execute import JobResult
from hpc_handbook.profile import Profile

REPO = Path(__file__).resolve().parents[2]
NIGHT = dt.datetime(2026, 12, 2, 6, 30, tzinfo=dt.UTC)


class Receiver:
    """An incoming webhook on the loopback interface that records every request."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[tuple[str, str, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.requests.append((self.command, self.path, json.loads(self.rfile.read(length))))
                body = b"ok" if status == 200 else b"invalid_token"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/doc-ci-secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def texts(self) -> list[str]:
        return [payload["text"] for _, _, payload in self.requests]


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


def results(*failing: str) -> list[JobResult]:
    names = ["first-notebook", "batch-job", "module-kernel"]
    return [
        JobResult(
            example=n,
            kernel="python3",
            status="failed" if n in failing else "passed",
            reason="CellExecutionError" if n in failing else "",
            cell=2,
            page=f"recipes/{n}",
            owner="docs-team",
        )
        for n in names
    ]


def chat(url: str, state: Path) -> NotifyChannels:
    return NotifyChannels(webhook=url, email=None, state_file=state, report_url=None)


def test_one_message_per_new_failure_set_and_at_most_a_daily_reminder(receiver, tmp_path, profile):
    state = tmp_path / "notify-state.json"

    def send(run: list[JobResult], when: dt.datetime) -> tuple[str, ...]:
        (outcome,) = notify_run(
            run,
            channels=chat(receiver.url, state),
            profile=profile,
            report_url="https://ci.example/r",
            now=when,
        )
        assert outcome.error is None
        return outcome.actions

    assert send(results("batch-job", "module-kernel"), NIGHT) == ("failing",)
    method, path, payload = receiver.requests[0]
    assert (method, path, list(payload)) == ("POST", "/hooks/doc-ci-secret", ["text"])
    assert payload["text"].startswith("**Doc CI at RCC: 2 of 3 example runs failed.**")
    assert "- `batch-job` on `python3`, cell 2 (owner: docs-team): [recipes/batch-job](" in payload["text"]
    assert "https://docs.rcc.example.org/jupyter/recipes/batch-job.html" in payload["text"]
    assert payload["text"].endswith("[Report](https://ci.example/r)")

    # A second run the same night (a manual re-run) stays quiet; the next night gets a short reminder.
    assert send(results("batch-job", "module-kernel"), NIGHT + dt.timedelta(hours=2)) == ("throttled",)
    assert len(receiver.requests) == 1
    assert send(results("batch-job", "module-kernel"), NIGHT + dt.timedelta(days=1, minutes=-7)) == (
        "still failing",
    )
    assert (
        receiver.texts[1] == "Doc CI at RCC: still failing, 3 runs in a row. [Report](https://ci.example/r)"
    )

    assert send(results("module-kernel"), NIGHT + dt.timedelta(days=1, hours=1)) == ("failing",)  # news
    assert send(results(), NIGHT + dt.timedelta(days=2)) == ("recovered",)
    assert "all examples pass again" in receiver.texts[3]
    assert send(results(), NIGHT + dt.timedelta(days=3)) == ("none",)
    assert len(receiver.requests) == 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_or_refusing_webhook_is_a_reason_without_the_secret(tmp_path, profile):
    state = tmp_path / "notify-state.json"
    url = f"http://127.0.0.1:{free_port()}/hooks/doc-ci-secret"
    (down,) = notify_run(results("batch-job"), channels=chat(url, state), profile=profile, report_url="r")
    assert down.actions == () and down.error is not None
    assert down.error.startswith("cannot reach the webhook at 127.0.0.1:") and "secret" not in down.error
    with Receiver(status=403) as refusing:
        (refused,) = notify_run(
            results("batch-job"), channels=chat(refusing.url, state), profile=profile, report_url="r"
        )
    assert refused.error is not None and "answered HTTP 403 Forbidden: invalid_token" in refused.error
    # Nothing reached the chat, so the next run posts the failures as new.
    loaded = load_notify_state(state)
    assert loaded is not None and loaded.chat is None


def test_a_state_from_the_old_webhook_protocol_counts_as_already_posted(receiver, tmp_path, profile):
    from hpc_handbook.doc_ci.notify.messages import failure_signature

    state = tmp_path / "notify-state.json"
    old = {"format": 1, "signature": failure_signature(results("batch-job")), "message_id": "7", "repeats": 4}
    state.write_text(json.dumps(old), encoding="utf-8")
    (outcome,) = notify_run(
        results("batch-job"), channels=chat(receiver.url, state), profile=profile, report_url="r"
    )
    assert outcome.actions == ("still failing",)
    assert receiver.texts == ["Doc CI at RCC: still failing, 5 runs in a row. [Report](r)"]


# --- The command: reports and exit code are the examples', whatever the notifier does ----------


@pytest.fixture
def synthetic_run(monkeypatch):
    """`hpc-handbook examples` with a run that needs no site: the given verdicts."""
    verdicts: list[JobResult] = []

    def fake_run_examples(**kwargs):
        return runner.RunResult(results=list(verdicts))

    monkeypatch.setattr(runner, "run_examples", fake_run_examples)
    return verdicts


def examples_command(tmp_path: Path, *flags: str) -> int:
    return main(
        [
            "examples",
            "--site",
            str(REPO / "site.yml"),
            "--report-dir",
            str(tmp_path / "reports"),
            "--notify-state",
            str(tmp_path / "reports" / "notify-state.json"),
            *flags,
        ]
    )


def test_a_failing_notifier_leaves_the_reports_and_the_exit_code_to_the_examples(
    synthetic_run, tmp_path, capsys
):
    dead = f"http://127.0.0.1:{free_port()}/hook"
    smtp = f"127.0.0.1:{free_port()}"
    synthetic_run.extend(results("batch-job"))
    flags = ("--notify-webhook", dead, "--notify-email", "admins@rcc.example.org", "--smtp", smtp)
    assert examples_command(tmp_path, *flags) == 1
    assert (tmp_path / "reports" / "examples.md").is_file() and (
        tmp_path / "reports" / "examples.xml"
    ).is_file()
    err = capsys.readouterr().err.splitlines()
    assert [line.partition(" failed: ")[0] for line in err] == [
        "warning: notification (chat)",
        "warning: notification (e-mail)",
    ]
    assert "cannot reach the SMTP server 127.0.0.1:" in err[1]

    synthetic_run[:] = results()
    assert examples_command(tmp_path, *flags) == 0  # passing examples pass, though nobody heard


def test_bad_notification_settings_stop_the_run_before_it_starts(synthetic_run, tmp_path, capsys):
    synthetic_run.extend(results())
    assert examples_command(tmp_path, "--notify-email", "admins@rcc.example.org") == 2
    assert "--smtp" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()
    with pytest.raises(SystemExit) as exit_:
        examples_command(tmp_path, "--notify-email", "not-an-address", "--smtp", "mail.example.org:587")
    assert exit_.value.code == 2
    assert "argument --notify-email: expected an e-mail address" in capsys.readouterr().err


def test_a_malformed_address_in_the_profile_names_its_key(tmp_path, profile: Profile) -> None:
    import yaml

    from hpc_handbook.errors import HandbookInputErrors
    from hpc_handbook.profile import parse_profile

    data = yaml.safe_load((REPO / "site.yml").read_text(encoding="utf-8"))
    data["notify"] = {
        "email": {"smtp": {"server": "mail.example.org:587"}, "owners": {"docs-team": ["docs"]}}
    }
    with pytest.raises(HandbookInputErrors) as error:
        parse_profile(data, file="site.yml")
    assert [e.where for e in error.value.errors] == ["notify.email.owners.docs-team[0]"]
    data["notify"] = {"email": {"smtp": {"server": "mail.example.org", "login_file": "smtp-login"}}}
    with pytest.raises(HandbookInputErrors) as relative:
        parse_profile(data, file="site.yml")
    assert relative.value.errors[0].where == "notify.email.smtp.login_file"
    assert "outside the repository" in relative.value.errors[0].problem
