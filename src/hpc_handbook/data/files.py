"""Write data files atomically and read them into their models, with errors that name the file and field."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from hpc_handbook.errors import HandbookInputError, HandbookInputErrors

Model = TypeVar("Model", bound=BaseModel)


class DataModel(BaseModel):
    """A part of a data file: unknown fields are errors, so a typo cannot pass unnoticed."""

    # `format_version` is written as `format`, the name the committed files already use.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _file_mode(path: Path) -> int:
    # mkstemp creates files only their owner can read; the old file's mode, or the umask's, is kept.
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomically(path: Path, text: str) -> None:
    """Write text to path so that a reader sees the old file or the new one, never half of one.

    The text goes to a temporary file in the same folder (so the rename stays on one
    filesystem), which replaces the target only once it is complete; on any error the
    temporary file is removed and the target is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, _file_mode(path))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def dump_json(model: BaseModel) -> str:
    """The one JSON layout of every data file: sorted keys, two-space indent, a final newline.

    Sorted keys make two writes of the same content identical, so a diff shows only changes.
    """
    data = model.model_dump(mode="json", by_alias=True)
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: Path, model: BaseModel) -> None:
    """Write a model as its data file, atomically."""
    write_atomically(path, dump_json(model))


# Pydantic adds the member it tried to the location of an error inside a union, as in
# `max_nodes.int`; such a tag names a type, not a field, so it is left out.
_UNION_TAG = re.compile(r"^(int|str|float|bool|none|literal\[.*\]|list\[.*\]|dict\[.*\])$")


def _where(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location if not _UNION_TAG.match(str(part)))


def _problem(error: Any) -> str:
    if error["type"] == "missing":
        return "required field is missing"
    if error["type"] == "extra_forbidden":
        return "unknown field"
    message = str(error["msg"]).removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def validate_data(data: Any, model: type[Model], *, file: str | Path, hint: str = "") -> Model:
    """Validate parsed data as `model`; raise HandbookInputError(s) naming the file and each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # The members of a union each report their own error; one field gets one message.
        problems: dict[str, list[str]] = {}
        inputs: dict[str, Any] = {}
        for error in exc.errors():
            where = _where(error["loc"])
            problems.setdefault(where, []).append(_problem(error))
            inputs.setdefault(where, error.get("input"))
    errors = []
    for where, messages in problems.items():
        problem = " or ".join(dict.fromkeys(messages))
        if messages[0] not in {"required field is missing", "unknown field"}:
            problem += f", got {inputs[where]!r}"
        errors.append(HandbookInputError(file, where, f"{problem}; {hint}" if hint else problem))
    raise errors[0] if len(errors) == 1 else HandbookInputErrors(errors)


def parse_json(text: str, model: type[Model], *, file: str | Path, hint: str = "") -> Model:
    """Parse a data file's text as `model`; bad JSON or a bad field is bad input."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HandbookInputError(file, f"line {exc.lineno}", f"expected JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise HandbookInputError(file, "", f"expected a JSON object, got {type(data).__name__}")
    return validate_data(data, model, file=file, hint=hint)


def read_data_text(path: Path) -> str | None:
    """A data file's text; None when it does not exist, HandbookInputError when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise HandbookInputError(path, "", f"cannot read the file ({reason})") from None


def read_json(path: Path, model: type[Model], *, hint: str = "") -> Model | None:
    """Read a data file as `model`; None when it does not exist, HandbookInputError when it is bad."""
    text = read_data_text(path)
    return None if text is None else parse_json(text, model, file=path, hint=hint)


def require(value: Model | None, path: Path, *, what: str) -> Model:
    """The loaded file, or bad input saying that a file the user named does not exist."""
    if value is None:
        raise HandbookInputError(path, "", f"expected {what}, but there is no such file")
    return value
