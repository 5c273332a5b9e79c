"""Tell the admins through the channels they read, and do not repeat yourself.

Each run tells every channel it has (chat, `chat`; e-mail, `email`) what is new: what was said
is kept in the notify state file between runs. A channel that cannot be reached is reported
once, with its reason, and never changes the run's verdict: the reports are already written,
and the exit code is the examples'.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hpc_handbook.data.notify_state import NotifyState, load_notify_state, write_notify_state
from hpc_handbook.doc_ci.notify.chat import notify_chat
from hpc_handbook.doc_ci.notify.email import notify_email
from hpc_handbook.doc_ci.notify.messages import NotifyError
from hpc_handbook.doc_ci.notify.settings import NotifyChannels
from hpc_handbook.doc_ci.run.execute import JobResult
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.profile import Profile


@dataclass(frozen=True)
class Outcome:
    channel: str  # "chat" or "e-mail"
    #: What the channel did: "failing", "still failing", "throttled", "replied", "recovered", "none".
    actions: tuple[str, ...]
    error: str | None = None


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
