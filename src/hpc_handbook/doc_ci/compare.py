"""Compare fresh outputs with reference outputs, with nbval's semantics.

As in nbval: streams are coalesced, outputs are flattened into lists per MIME type
(so the relative order of different types does not matter), metadata, tracebacks,
execution counts and images are not compared, and both sides are sanitized. Unlike
nbval's pytest report, a mismatch becomes a unified diff an admin can read at once.
"""

from __future__ import annotations

import copy
import difflib
from collections import defaultdict
from dataclasses import dataclass

import nbformat
from nbval.plugin import coalesce_streams, find_comment_markers, find_metadata_tags

from hpc_handbook.doc_ci.sanitize import Sanitizer

# nbval's default skip list (without nbdime, images are not compared either).
SKIP_COMPARE = frozenset(
    {
        "metadata",
        "traceback",
        "prompt_number",
        "output_type",
        "name",
        "execution_count",
        "application/vnd.jupyter.widget-view+json",
        "image/png",
        "image/jpeg",
        "image/svg+xml",
    }
)


@dataclass(frozen=True)
class CellOptions:
    """What nbval's cell tags and comment markers ask for."""

    check: bool = True
    check_exception: bool = False
    skip: bool = False


def cell_options(cell: nbformat.NotebookNode) -> CellOptions:
    options = {"check": True, "check_exception": False, "skip": False}
    for marker, value in [*find_comment_markers(cell.source), *find_metadata_tags(cell.get("metadata", {}))]:
        options[marker] = value
    return CellOptions(**options)


@dataclass(frozen=True)
class Mismatch:
    cell_index: int
    summary: str
    diff: str


def _flatten(outputs: list, sanitize: Sanitizer) -> dict[str, list]:
    flat: dict[str, list] = defaultdict(list)
    for output in coalesce_streams(copy.deepcopy(outputs)):
        if output.get("output_type") == "stream":
            flat[f"stream:{output['name']}"].append(sanitize(output["text"]))
            continue
        for key, value in output.items():
            if key in SKIP_COMPARE:
                continue
            if key == "data":
                for mime, data in value.items():
                    if mime not in SKIP_COMPARE:
                        text = (
                            data
                            if isinstance(data, str)
                            else "".join(data)
                            if isinstance(data, list)
                            else repr(data)
                        )
                        flat[mime].append(sanitize(text))
            else:
                flat[key].append(sanitize(value if isinstance(value, str) else repr(value)))
    return flat


def _render(flat: dict[str, list]) -> list[str]:
    lines: list[str] = []
    for key in sorted(flat):
        for value in flat[key]:
            lines.append(f"[{key}]")
            lines.extend(str(value).splitlines() or [""])
    return lines


def compare_cell(index: int, reference: list, actual: list, *, sanitize: Sanitizer) -> Mismatch | None:
    """Return a Mismatch when the cell's fresh outputs differ from its reference outputs."""
    expected_flat, actual_flat = _flatten(reference, sanitize), _flatten(actual, sanitize)
    if expected_flat == actual_flat:
        return None
    missing = sorted(set(expected_flat) - set(actual_flat))
    unexpected = sorted(set(actual_flat) - set(expected_flat))
    if missing:
        summary = f"missing output {', '.join(missing)}"
    elif unexpected:
        summary = f"unexpected output {', '.join(unexpected)}"
    else:
        changed = sorted(k for k in expected_flat if expected_flat[k] != actual_flat[k])
        summary = f"output {', '.join(changed)} differs"
    diff = "\n".join(
        difflib.unified_diff(
            _render(expected_flat),
            _render(actual_flat),
            fromfile="expected (reference)",
            tofile="actual",
            lineterm="",
            n=2,
        )
    )
    return Mismatch(cell_index=index, summary=summary, diff=diff)


def sanitize_outputs(outputs: list, sanitize: Sanitizer) -> list:
    """Sanitize every text field of a cell's outputs (used by refresh before writing)."""
    cleaned = []
    for output in copy.deepcopy(outputs):
        if "text" in output:
            output["text"] = sanitize(
                "".join(output["text"]) if isinstance(output["text"], list) else output["text"]
            )
        if "traceback" in output:
            output["traceback"] = [sanitize(line) for line in output["traceback"]]
        if "evalue" in output:
            output["evalue"] = sanitize(output["evalue"])
        for mime, data in output.get("data", {}).items():
            if mime.startswith("text/") or mime.endswith("json"):
                if isinstance(data, str):
                    output["data"][mime] = sanitize(data)
                elif isinstance(data, list):
                    output["data"][mime] = sanitize("".join(data))
        cleaned.append(output)
    return cleaned
