"""Tell the admins through the channels they read, and do not repeat yourself.

Doc CI whose nightly failures go unread for months is the known failure mode of
notebook books; so is an alert that says the same thing every night until it is
muted. So:

- chat (a Slack- or Mattermost-compatible incoming webhook: `POST {"text": ...}` with
  Markdown) gets one message per new set of failures, a short "still failing" at most
  once a day while they repeat, and one message when everything passes again;
- e-mail (`notify_email`) gets one message per failing run, each repeat a reply in the
  thread of the first, and a recovery message that closes the thread; each owner's team
  gets a thread of its own about its own pages.

What was said is kept in the notify state file between runs. A channel that cannot be
reached is reported once, with its reason, and never changes the run's verdict: the
reports are already written, and the exit code is the examples'.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from hpc_handbook.data.notify_state import ChatState, NotifyState, load_notify_state, write_notify_state
from hpc_handbook.doc_ci.execute import JobResult
from hpc_handbook.doc_ci.notify_settings import NotifyChannels
from hpc_handbook.doc_ci.report import cells_text, differing_cells, page_url
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.profile import Profile

#: Nightly runs start a few minutes apart from one night to the next; a reminder every
#: 24 hours exactly would skip every other night. So "at most daily" means 20 hours.
STILL_FAILING_EVERY = dt.timedelta(hours=20)
TIMEOUT_S = 10.0


class NotifyError(Exception):
    """A channel could not deliver; the message says why, in one line."""


@dataclass(frozen=True)
class Outcome:
    channel: str  # "chat" or "e-mail"
    #: What the channel did: "failing", "still failing", "throttled", "replied", "recovered", "none".
    actions: tuple[str, ...]
    error: str | None = None


@cache
def wording() -> dict[str, Any]:
    """The messages' wording, from `notify_messages.yml` beside this module."""
    text = files("hpc_handbook.doc_ci").joinpath("notify_messages.yml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def failure_signature(results: Iterable[JobResult]) -> str:
    """The same set of failing (example, kernel, cells) gives the same signature.

    A failure with one cell keeps the signature it had before every differing cell was
    named, so an alert already sent is not sent again.
    """
    failing = sorted(
        f"{r.example}|{r.kernel}|{','.join(map(str, differing_cells(r))) or None}"
        for r in results
        if r.status == "failed"
    )
    return hashlib.sha256("\n".join(failing).encode()).hexdigest()[:16] if failing else ""


def failure_fields(result: JobResult, *, profile: Profile) -> dict[str, str]:
    """The placeholders of one failure line."""
    where = wording()["where"]
    cells = differing_cells(result)
    if result.locations:
        place = where["lines"].format(lines=", ".join(result.locations))
    else:
        place = where["cells"].format(cells=cells_text(cells)) if cells else where["start"]
    return {
        "example": result.example,
        "kernel": result.kernel,
        "where": place,
        "owner": result.owner or "nobody",
        "page": result.page or result.example,
        "page_url": page_url(profile, result),
        "reason": result.reason.splitlines()[0] if result.reason else "",
    }


def failure_lines(failed: Sequence[JobResult], template: str, *, profile: Profile) -> str:
    ordered = sorted(failed, key=lambda r: (r.owner, r.example, r.kernel))
    return "\n".join(template.format(**failure_fields(r, profile=profile)) for r in ordered)


# --- Chat ---------------------------------------------------------------------------------------


def post_webhook(url: str, text: str, *, timeout: float = TIMEOUT_S) -> None:
    """POST `{"text": ...}` as Slack's and Mattermost's incoming webhooks take it."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    # The address is the webhook's secret: errors name its host only.
    host = urllib.parse.urlsplit(url).netloc or url
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors="replace").strip().splitlines()
        detail = f": {body[0][:200]}" if body else ""
        raise NotifyError(
            f"the webhook at {host} answered HTTP {error.code} {error.reason}{detail}"
        ) from None
    except urllib.error.URLError as error:
        reason = getattr(error.reason, "strerror", None) or error.reason
        raise NotifyError(f"cannot reach the webhook at {host}: {reason}") from None
    except (TimeoutError, OSError) as error:
        raise NotifyError(f"cannot reach the webhook at {host}: {error}") from None


def chat_text(failed: Sequence[JobResult], *, runs: int, profile: Profile, report_url: str) -> str:
    chat = wording()["chat"]
    listed = sorted(failed, key=lambda r: (r.owner, r.example, r.kernel))[: chat["listed"]]
    lines = failure_lines(listed, chat["failure"], profile=profile)
    if len(failed) > len(listed):
        lines += "\n" + chat["more"].format(count=len(failed) - len(listed))
    return str(
        chat["failing"].format(
            site=profile.site.short_name,
            failed=len(failed),
            runs=runs,
            failures=lines,
            report_url=report_url,
        )
    )


def notify_chat(
    results: Sequence[JobResult],
    *,
    webhook: str,
    state: ChatState | None,
    profile: Profile,
    report_url: str,
    now: dt.datetime,
) -> tuple[str, ChatState | None]:
    """Post what is new since `state`; return what was done and the state to keep."""
    chat = wording()["chat"]
    site = profile.site.short_name
    failed = [r for r in results if r.status == "failed"]
    signature = failure_signature(failed)
    if not signature:
        if state is None:
            return "none", None
        post_webhook(webhook, chat["recovered"].format(site=site, report_url=report_url))
        return "recovered", None
    if state is None or state.signature != signature:
        post_webhook(webhook, chat_text(failed, runs=len(results), profile=profile, report_url=report_url))
        return "failing", ChatState(signature=signature, repeats=1, last_sent=now.isoformat())
    repeats = state.repeats + 1
    last = dt.datetime.fromisoformat(state.last_sent) if state.last_sent else None
    if last is not None and now - last < STILL_FAILING_EVERY:
        return "throttled", ChatState(signature=signature, repeats=repeats, last_sent=state.last_sent)
    post_webhook(webhook, chat["still_failing"].format(site=site, repeats=repeats, report_url=report_url))
    return "still failing", ChatState(signature=signature, repeats=repeats, last_sent=now.isoformat())


# --- Both channels, once per run ----------------------------------------------------------------


def notify_run(
    results: Sequence[JobResult],
    *,
    channels: NotifyChannels,
    profile: Profile,
    report_url: str,
    report_path: Path | None = None,
    now: dt.datetime | None = None,
) -> list[Outcome]:
    """Notify every channel of this run; a channel that fails keeps its old state and says why."""
    from hpc_handbook.doc_ci.notify_email import notify_email

    now = now or dt.datetime.now(dt.UTC)
    outcomes: list[Outcome] = []
    try:
        state = load_notify_state(channels.state_file) or NotifyState()
    except HandbookInputError as error:
        # A damaged state file must not silence the alerts: start afresh, and say so.
        outcomes.append(Outcome("state", (), f"{error.message}; starting with no earlier messages"))
        state = NotifyState()
    if channels.webhook:
        try:
            action, chat_state = notify_chat(
                results,
                webhook=channels.webhook,
                state=state.chat,
                profile=profile,
                report_url=report_url,
                now=now,
            )
        except NotifyError as error:
            outcomes.append(Outcome("chat", (), str(error)))
        else:
            state = state.model_copy(update={"chat": chat_state})
            outcomes.append(Outcome("chat", (action,)))
    if channels.email is not None:
        threads, actions, error_text = notify_email(
            results,
            channel=channels.email,
            threads=state.email,
            profile=profile,
            report_url=report_url,
            report_path=report_path,
            now=now,
        )
        state = state.model_copy(update={"email": threads})
        outcomes.append(Outcome("e-mail", tuple(actions), error_text))
    try:
        write_notify_state(channels.state_file, state)
    except OSError as error:
        outcomes.append(
            Outcome("state", (), f"cannot write {channels.state_file}: {error.strerror or error}")
        )
    return outcomes


def print_outcomes(outcomes: Sequence[Outcome]) -> None:
    """One line per channel; a failure goes to stderr, once, with its reason."""
    for outcome in outcomes:
        if outcome.actions:
            print(f"notification ({outcome.channel}): {', '.join(outcome.actions)}")
        if outcome.error:
            print(f"warning: notification ({outcome.channel}) failed: {outcome.error}", file=sys.stderr)


def notify_after_run(
    results: Sequence[JobResult], *, channels: NotifyChannels, profile: Profile, report: Path
) -> None:
    """What `hpc-handbook examples` does once its reports are written."""
    if not channels.webhook and channels.email is None:
        return
    report_url = channels.report_url or report.resolve().as_uri()
    print_outcomes(
        notify_run(results, channels=channels, profile=profile, report_url=report_url, report_path=report)
    )
