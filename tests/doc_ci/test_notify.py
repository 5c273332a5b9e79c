"""Notifications reach a receiver: once per run, updated (not repeated) while failures persist."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hpc_handbook.doc_ci.execute import JobResult
from hpc_handbook.doc_ci.notify import notify


class Receiver:
    """A webhook receiver on the loopback interface that records every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.requests.append((self.command, self.path, json.loads(self.rfile.read(length))))
                body = json.dumps({"id": f"msg-{len(receiver.requests)}"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_PATCH = _record

            def log_message(self, *args) -> None:  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/doc-ci"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


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
            cell=2,
            owner="docs-team",
        )
        for n in names
    ]


def test_one_message_per_run_updated_while_the_same_failures_repeat(receiver, tmp_path):
    state = tmp_path / "notify-state.json"
    send = dict(webhook=receiver.url, state_file=state, site="RCC", report_url="https://ci.example/report")

    first = notify(results("batch-job", "module-kernel"), **send)
    assert first.action == "created"
    assert len(receiver.requests) == 1
    method, path, payload = receiver.requests[0]
    assert (method, path) == ("POST", "/hooks/doc-ci")
    assert "2 of 3 example runs failed" in payload["text"]
    assert "batch-job [python3]" in payload["text"] and "https://ci.example/report" in payload["text"]

    second = notify(results("batch-job", "module-kernel"), **send)
    assert second.action == "updated" and second.message_id == first.message_id
    assert receiver.requests[1][:2] == ("PATCH", f"/hooks/doc-ci/{first.message_id}")
    assert "the same failures for 2 runs in a row" in receiver.requests[1][2]["text"]

    third = notify(results("module-kernel"), **send)  # a different set of failures is news
    assert third.action == "created" and receiver.requests[2][0] == "POST"

    fixed = notify(results(), **send)
    assert fixed.action == "recovered" and "all examples pass again" in receiver.requests[3][2]["text"]
    quiet = notify(results(), **send)
    assert quiet.action == "none" and len(receiver.requests) == 4
