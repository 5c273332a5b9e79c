"""A drift finding: one mismatch between what the handbook says and what the site has."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Drift:
    """One mismatch between the handbook's claims and the site."""

    kind: str  # kernel, partition or module
    name: str
    check: str  # a stable identifier of the check, e.g. "missing" or "MaxTime"
    message: str
    pages: tuple[str, ...] = ()
    versions: bool = False  # found against the last snapshot, not against site.yml

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"pages": list(self.pages)}
