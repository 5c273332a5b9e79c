"""Why a site fact cannot be given: the key names nothing, or the site lacks that kind of thing."""

from __future__ import annotations

from typing import Any


class UnknownFact(LookupError):
    """A key that names nothing this site has; the message says what there is instead."""


class FactAbsent(LookupError):
    """A fact of a kind this site lacks; the message says so in words a reader understands."""


def choices_text(what: str, names: Any) -> str:
    return f"{what}; this site has: {', '.join(sorted(names)) or 'none'}"
