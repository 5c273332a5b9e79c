"""Sanitize outputs: the committed nbval rules plus rules for this machine.

The same rules serve comparison (applied to both sides, as nbval does) and refresh
(applied before reference outputs are written), so no host name, user name, home
path or token reaches the book.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from nbval.plugin import get_sanitize_patterns

from hpc_handbook.errors import HandbookInputError, HandbookInputErrors


@dataclass(frozen=True)
class Sanitizer:
    patterns: tuple[tuple[re.Pattern[str], str], ...] = field(default_factory=tuple)

    def __call__(self, text: str) -> str:
        for pattern, replacement in self.patterns:
            text = pattern.sub(replacement, text)
        return text


SQUEUE_USER_WIDTH = 8


def filesystem_rules(path_patterns: dict[str, str], user: str) -> list[tuple[str, str]]:
    """Rules that turn this user's home, project and scratch folders back into `<home>`, `<scratch>`…"""
    rules = []
    for name, pattern in sorted(path_patterns.items(), key=lambda item: -len(item[1])):
        regex = (
            re.escape(pattern)
            .replace(re.escape("$USER"), re.escape(user))
            .replace(re.escape("$PROJECT"), r"[\w.-]+")
        )
        rules.append((regex, f"<{name}>"))
    return rules


def machine_rules(
    *,
    workdirs: list[str] | None = None,
    filesystems: dict[str, str] | None = None,
    homes: list[str] | None = None,
    users: list[str] | None = None,
) -> list[tuple[str, str]]:
    """Rules for what names this machine and user; longest first so a path wins over its parts.

    `homes` are the home folders the kernels were given, besides this process's own, and
    `users` the accounts they ran as (the doc CI's, through the hub), besides this process's.
    """
    user = os.environ.get("USER") or getpass.getuser()
    all_users = [u for u in dict.fromkeys([*(users or []), user]) if u]
    rules_before: list[tuple[str, str]] = [
        rule for name in all_users for rule in filesystem_rules(filesystems or {}, name)
    ]
    literal: dict[str, str] = {}
    for workdir in workdirs or []:
        literal[workdir] = "<workdir>"
    for home in [os.path.expanduser("~"), *(homes or [])]:
        if home not in ("/", ""):
            literal[home] = "<home>"
    rules = rules_before + [
        (re.escape(value), replacement)
        for value, replacement in sorted(literal.items(), key=lambda kv: -len(kv[0]))
    ]
    hostnames = {socket.gethostname(), socket.getfqdn(), socket.gethostname().split(".")[0]}
    for hostname in sorted((h for h in hostnames if h and h != "localhost"), key=len, reverse=True):
        rules.append((rf"\b{re.escape(hostname)}\b", "<host>"))
    for name in all_users:
        rules.append((rf"(?<![\w/.-]){re.escape(name)}(?![\w.-])", "<user>"))
    for name in all_users:
        if len(name) > SQUEUE_USER_WIDTH:
            # squeue's default format cuts user names to eight characters.
            short = name[:SQUEUE_USER_WIDTH]
            rules.append((rf"(?<![\w/.-]){re.escape(short)}(?![\w.-])", "<user>"))
    return rules


#: What nbval's `get_sanitize_patterns` pairs: a `regex: ` line and, on the next line, its `replace: `.
_NBVAL_RULE = re.compile(r"^regex: (.*)$\n^replace: (.*)$", re.MULTILINE)
#: A line that looks like part of a rule, so one that nbval would skip is a mistake.
_RULE_LIKE = re.compile(r"^\s*(regex|replace)\s*:")


def read_nbval_rules(rules_file: Path) -> list[tuple[str, str]]:
    """A sanitize file's rules as nbval's `--nbval-sanitize-with` reads them, in its order.

    nbval keeps the rules in a dict keyed by the regex, so a later rule for the same regex
    replaces the earlier one's replacement, in the earlier one's place. A `regex:` or
    `replace:` line that nbval would skip in silence, having no partner, is an error.
    """
    try:
        text = rules_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise HandbookInputError(rules_file, "", f"cannot read the sanitize rules ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise HandbookInputError(rules_file, "", f"expected UTF-8 text ({exc.reason})") from None
    paired: set[int] = set()
    for match in _NBVAL_RULE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        paired.update((line, line + 1))
    errors = [
        HandbookInputError(
            rules_file,
            f"line {number} ({line.strip()})",
            "expected a `regex: PATTERN` line followed at once by its `replace: TEXT` line, "
            "each starting the line with one space after the colon; nbval would skip this line",
        )
        for number, line in enumerate(text.splitlines(), start=1)
        if _RULE_LIKE.match(line) and number not in paired
    ]
    if len(errors) > 1:
        raise HandbookInputErrors(errors)
    if errors:
        raise errors[0]
    return list(dict(get_sanitize_patterns(text)).items())


def load_sanitizer(
    rules_file: Path,
    *,
    workdirs: list[str] | None = None,
    filesystems: dict[str, str] | None = None,
    homes: list[str] | None = None,
    users: list[str] | None = None,
) -> Sanitizer:
    """The committed rules plus this machine's; `filesystems` maps names to the profile's path patterns."""
    rules = machine_rules(workdirs=workdirs, filesystems=filesystems, homes=homes, users=users)
    rules += read_nbval_rules(rules_file)
    compiled = []
    for regex, replacement in rules:
        try:
            compiled.append((re.compile(regex), replacement))
        except re.error as exc:
            raise HandbookInputError(
                rules_file, f"regex: {regex}", f"expected a valid regular expression ({exc})"
            ) from None
    return Sanitizer(tuple(compiled))
