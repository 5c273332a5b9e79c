"""Tell the admins in chat, through a Slack- or Mattermost-compatible incoming webhook.

`POST {"text": ...}` with Markdown: one message per new set of failures, a short "still
failing" at most once a day while they repeat, and one message when everything passes again.
An alert that says the same thing every night until it is muted is the known failure mode of
notebook books' CI; this one does not.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence

from hpc_handbook.data.notify_state import ChatState
from hpc_handbook.doc_ci.notify.messages import (
    TIMEOUT_S,
    NotifyError,
    failure_lines,
    failure_signature,
    wording,
)
from hpc_handbook.doc_ci.run.execute import JobResult
from hpc_handbook.profile import Profile

#: Nightly runs start a few minutes apart from one night to the next; a reminder every
#: 24 hours exactly would skip every other night. So "at most daily" means 20 hours.
STILL_FAILING_EVERY = dt.timedelta(hours=20)


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
