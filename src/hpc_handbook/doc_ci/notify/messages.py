"""What every alert says, whichever channel carries it: the wording (`notify_messages.yml`), a
failure's line, and the signature that tells a new set of failures from a repeat."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

from hpc_handbook.doc_ci.report import cells_text, differing_cells, page_url
from hpc_handbook.doc_ci.run.execute import JobResult
from hpc_handbook.profile import Profile

#: How long a channel may take to answer.
TIMEOUT_S = 10.0


class NotifyError(Exception):
    """A channel could not deliver; the message says why, in one line."""


@cache
def wording() -> dict[str, Any]:
    """The messages' wording, from `notify_messages.yml` beside this module."""
    text = files("hpc_handbook.doc_ci.notify").joinpath("notify_messages.yml").read_text(encoding="utf-8")
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
