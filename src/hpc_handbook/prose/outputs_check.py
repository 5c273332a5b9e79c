"""Committed outputs that the sanitizer would still change: a job id, a date, a token left in a page.

Every output is published, those the comparison ignores too, so each must already be what the
sanitizer makes of it; `nox -s refresh` writes them that way.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from pathlib import Path

from hpc_handbook.examples.sanitize import Sanitizer, load_sanitizer
from hpc_handbook.prose.check import ProseFinding

SANITIZE_RULES = Path("examples/sanitize.cfg")


def output_texts(notebook: dict) -> Iterator[tuple[int, str]]:
    """(cell index, text) of every text a notebook's outputs hold: streams, text data, tracebacks."""
    for index, cell in enumerate(notebook.get("cells", [])):
        for output in cell.get("outputs", []):
            texts = [output.get("text", "")]
            for mime, value in (output.get("data") or {}).items():
                if mime.startswith("text/") or mime.endswith("json"):
                    texts.append(value if isinstance(value, str) else json.dumps(value))
            texts.append("\n".join(output.get("traceback", [])))
            for text in texts:
                yield index, "".join(text) if isinstance(text, list) else str(text)


def _changed_part(before: str, after: str) -> str:
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for tag, start, end, _, _ in matcher.get_opcodes():
        if tag != "equal":
            return before[max(0, start - 20) : end + 20].strip()
    return before[:60]


def unsanitized_outputs(root: Path, sanitize: Sanitizer | None = None) -> list[ProseFinding]:
    sanitize = sanitize or load_sanitizer(root / SANITIZE_RULES)
    findings = []
    for path in sorted((root / "examples").glob("*.ipynb")):
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # the contract check names a notebook it cannot read
        page = path.relative_to(root).as_posix()
        owner = str(((notebook.get("metadata") or {}).get("handbook") or {}).get("owner", ""))
        for index, text in output_texts(notebook):
            cleaned = sanitize(text)
            if cleaned != text:
                findings.append(
                    ProseFinding(
                        page=page,
                        location=f"cell {index}, output",
                        owner=owner,
                        kind="unsanitized output",
                        claim=f"“{_changed_part(text, cleaned)}”",
                        truth="the sanitizer would change this committed output; refresh the example",
                    )
                )
    return findings
