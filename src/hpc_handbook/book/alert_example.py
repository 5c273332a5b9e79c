"""The `alert-example` directive: a real alert of the doc CI, as the admins receive it.

It shows what `hpc-handbook alert-example` recorded from a failing run on the site
(`book/data/alert-example.json`): the e-mail with its headers, its attached report, and the
chat message. A book built for another site says that none was recorded there.
"""

from __future__ import annotations

import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

from hpc_handbook.book.generated import GeneratedMyST, wording
from hpc_handbook.data.alert_example import ALERT_EXAMPLE, EMAIL_HEADERS, RECORD_COMMAND, load_alert_example
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.profile import Profile

LOGGER = logging.getLogger(__name__)


def fenced(text: str, language: str) -> list[str]:
    """A code fence around text, longer than any run of backticks in it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", *text.rstrip("\n").splitlines(), fence]


class AlertExampleDirective(GeneratedMyST):
    """Show the recorded alert: the e-mail, its attached report, and the chat message."""

    container_class = "handbook-alert-example"

    def markdown(self, profile: Profile) -> list[str]:
        path = Path(self.env.app.confdir) / ALERT_EXAMPLE
        self.env.note_dependency(str(path))
        words = wording("alert_example.yml")
        try:
            recorded = load_alert_example(path)
        except HandbookInputError as error:
            LOGGER.warning(
                "%s", error.message, type="handbook", subtype="alert", location=self.get_location()
            )
            return [words["elsewhere"].format(site=profile.site.short_name, command=RECORD_COMMAND)]
        if recorded.site != profile.site.short_name:
            return [words["elsewhere"].format(site=profile.site.short_name, command=RECORD_COMMAND)]
        planted = recorded.planted
        example = f"examples/{planted.example}"
        link = f"{{doc}}`/{example}`" if example in self.env.found_docs else f"`{planted.example}`"
        lines = [
            words["intro"].format(
                date=recorded.date,
                site=recorded.site,
                command=RECORD_COMMAND,
                example=link,
                recorded=planted.recorded,
                found=planted.found,
            ),
            "",
            words["email"],
            "",
        ]
        shown = recorded.email.headers
        headers = "\n".join(f"{name}: {shown[name]}" for name in EMAIL_HEADERS if name in shown)
        lines += fenced(f"{headers}\n\n{recorded.email.body}", "text")
        for name, text in recorded.email.attachments.items():
            lines += ["", f"::::{{dropdown}} {words['attachment'].format(name=name)}"]
            lines += [*fenced(text, "markdown"), "::::"]
        lines += ["", words["chat"], "", *fenced(recorded.chat, "markdown")]
        return lines


def setup_alert_example(app: Sphinx) -> None:
    app.add_directive("alert-example", AlertExampleDirective)
