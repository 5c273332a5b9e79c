"""The verification record: when and where `hpc-handbook refresh` last recorded an example's outputs.

It lives in the notebook's own metadata, under `handbook_verification`, so it travels
with the outputs it vouches for; the book's badges read it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from hpc_handbook.data.files import DataModel, validate_data
from hpc_handbook.errors import HandbookInputError

#: Notebook metadata key for the last verification.
VERIFICATION_KEY = "handbook_verification"
VERIFICATION_FORMAT: Literal[1] = 1
_HINT = "re-run `nox -s refresh` for this example"


class RecordedPlace(DataModel):
    """Where the kernel whose outputs were recorded ran."""

    #: The partition of the job it ran in; None on the login node.
    partition: str | None = None


class VerificationRecord(DataModel):
    format_version: Literal[1] = Field(default=VERIFICATION_FORMAT, alias="format")
    #: The day of the refresh, `YYYY-MM-DD`.
    date: str
    site: str
    #: The kernels the example ran on (or was skipped on).
    kernels: list[str] = Field(default_factory=list)
    result: Literal["passed", "skipped"]
    #: Why the example was skipped; None when it ran.
    reason: str | None = None
    #: Where the recorded outputs' kernel ran; None in records older than this field.
    place: RecordedPlace | None = None
    #: What the outputs were recorded with: the kernel's language and its version (`python`,
    #: `3.11.2`) and the Jupyter server's packages (`jupyterlab`, `4.5.6`); empty when unknown.
    environment: dict[str, str] = Field(default_factory=dict)

    def to_metadata(self) -> dict[str, Any]:
        """The record as notebook metadata: JSON values, no empty reason or environment."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        if self.place is not None:
            # The login node is a partition of None: kept, so the record says where it ran.
            data["place"] = {"partition": self.place.partition}
        if not self.environment:
            data.pop("environment", None)
        return data


def verification_from_metadata(metadata: Mapping[str, Any], *, file: str | Path) -> VerificationRecord | None:
    """The record in a notebook's metadata; None when the notebook has none."""
    raw = metadata.get(VERIFICATION_KEY)
    if raw is None:
        return None
    return validate_data(raw, VerificationRecord, file=file, hint=_HINT)


def load_verification(path: Path) -> VerificationRecord | None:
    """The record of an example notebook; None when the notebook or its record does not exist."""
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HandbookInputError(path, "", f"cannot read the notebook ({exc})") from None
    metadata = notebook.get("metadata") if isinstance(notebook, dict) else None
    return verification_from_metadata(metadata if isinstance(metadata, dict) else {}, file=path)
