"""Tell the admins, once per run, and do not repeat yourself.

Doc CI whose nightly failures go unread for months is the known failure mode of
notebook books. So a run sends at most one message; when the same failures come
back on the next run, it updates the earlier message instead of sending a new one,
and a run that fixes them says so once.

The webhook protocol is plain JSON over HTTP: POST to the webhook URL creates a
message and answers `{"id": ...}`; PATCH to `<url>/<id>` updates that message.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpc_handbook.data.notify_state import NotifyState, load_notify_state, write_notify_state
from hpc_handbook.doc_ci.execute import JobResult


@dataclass(frozen=True)
class Notice:
    action: str  # "created", "updated", "recovered" or "none"
    message_id: str | None


def failure_signature(results: list[JobResult]) -> str:
    """The same set of failing (example, kernel, cell) gives the same signature."""
    failing = sorted(f"{r.example}|{r.kernel}|{r.cell}" for r in results if r.status == "failed")
    return hashlib.sha256("\n".join(failing).encode()).hexdigest()[:16] if failing else ""


def summary_text(results: list[JobResult], *, site: str, report_url: str, repeats: int) -> str:
    failed = [r for r in results if r.status == "failed"]
    owners = sorted({r.owner for r in failed})
    head = f"Doc CI at {site}: {len(failed)} of {len(results)} example runs failed"
    if repeats > 1:
        head += f" (the same failures for {repeats} runs in a row)"
    names = ", ".join(sorted({f"{r.example} [{r.kernel}]" for r in failed})[:10])
    return f"{head}. Failing: {names}. Owners: {', '.join(owners)}. Report: {report_url}"


def _send(method: str, url: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else {}


def notify(
    results: list[JobResult],
    *,
    webhook: str,
    state_file: Path,
    site: str,
    report_url: str,
    timeout: float = 10.0,
) -> Notice:
    """Send or update the one message for this run; remember it in state_file for the next run."""
    state = load_notify_state(state_file)
    signature = failure_signature(results)
    if not signature:
        if state is None or not state.signature:
            return Notice("none", None)
        _send(
            "POST",
            webhook,
            {"text": f"Doc CI at {site}: all examples pass again. Report: {report_url}"},
            timeout,
        )
        state_file.unlink()
        return Notice("recovered", None)
    if state is not None and state.signature == signature and state.message_id:
        repeats = state.repeats + 1
        text = summary_text(results, site=site, report_url=report_url, repeats=repeats)
        _send("PATCH", f"{webhook.rstrip('/')}/{state.message_id}", {"text": text}, timeout)
        notice = Notice("updated", state.message_id)
    else:
        repeats = 1
        text = summary_text(results, site=site, report_url=report_url, repeats=repeats)
        answer = _send("POST", webhook, {"text": text}, timeout)
        notice = Notice("created", str(answer.get("id")) if answer.get("id") is not None else None)
    write_notify_state(
        state_file, NotifyState(signature=signature, message_id=notice.message_id, repeats=repeats)
    )
    return notice
