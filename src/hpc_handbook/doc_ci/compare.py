"""Compare fresh outputs with reference outputs, with nbval's semantics.

As in nbval: a cell's markers, as comments (`# NBVAL_IGNORE_OUTPUT`) or as tags
(`nbval-ignore-output`), say whether it runs, may raise and has its output checked, and
a comment wins over a tag; a reference cell that was never run has no output to check;
streams are coalesced, outputs are flattened into lists per MIME type (so the relative
order of different types does not matter), and metadata, tracebacks, execution counts
and PNG and JPEG images are not compared; both sides are sanitized. Unlike nbval's pytest
report, a mismatch becomes a unified diff an admin can read at once, and every cell that
differs is reported, not only the first.
"""

from __future__ import annotations

import copy
import difflib
import warnings
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import nbformat
from nbval.plugin import coalesce_streams, find_comment_markers, find_metadata_tags

from hpc_handbook.examples.sanitize import Sanitizer

if TYPE_CHECKING:
    from hpc_handbook.examples.contract import Example

# nbval's skip list without nbdime: PNG and JPEG are not compared, SVG (text) is.
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
    }
)
#: nbclient's tag for a cell it must not run (Jupyter Book's too); to nbval it means nothing.
SKIP_EXECUTION_TAG = "skip-execution"
#: The tag nbclient and the hub's runner honour for a cell that may raise.
RAISES_EXCEPTION_TAG = "raises-exception"
RAN_CLEANLY = "expected an exception (tagged raises-exception), but the cell ran cleanly"
UNRUN_WITH_OUTPUTS = "the reference cell has outputs but was never run (no execution count)"


@dataclass(frozen=True)
class CellOptions:
    """What nbval's cell tags and comment markers ask for."""

    check: bool = True
    check_exception: bool = False
    skip: bool = False


def cell_options(cell: nbformat.NotebookNode, *, lax: bool = False) -> CellOptions:
    """A cell's options as nbval reads them: tags, then comments, which win; lax checks only marked cells.

    `lax` is nbval's `--nbval-lax`: a cell's output is checked only where a marker says
    NBVAL_CHECK_OUTPUT. nbclient's `skip-execution` tag skips the cell as NBVAL_SKIP does.
    """
    metadata = cell.get("metadata", {})
    with warnings.catch_warnings():
        # nbval warns about conflicting markers and takes the last one; so does this.
        warnings.simplefilter("ignore")
        options: dict[str, bool] = dict(find_metadata_tags(metadata))
        options.update(find_comment_markers(cell.get("source", "")))
    tags = metadata.get("tags", [])
    skip_execution = isinstance(tags, list) and SKIP_EXECUTION_TAG in tags
    return CellOptions(
        check=options.get("check", not lax),
        check_exception=options.get("check_exception", False),
        skip=options.get("skip", False) or skip_execution,
    )


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
            fromfile=f"cell {index}, expected (reference)",
            tofile=f"cell {index}, actual",
            lineterm="",
            n=2,
        )
    )
    return Mismatch(cell_index=index, summary=summary, diff=diff)


def judge_cell(
    index: int, reference: nbformat.NotebookNode, outputs: list, *, sanitize: Sanitizer, lax: bool = False
) -> Mismatch | None:
    """Judge one executed cell against its reference cell as nbval does."""
    if reference.get("execution_count") is None:
        # nbval: a reference cell that was never run is not compared, unless it has outputs.
        return Mismatch(index, UNRUN_WITH_OUTPUTS, "") if reference.get("outputs") else None
    options = cell_options(reference, lax=lax)
    if not options.check:
        return None
    expected = reference.get("outputs", [])
    mismatch = compare_cell(index, expected, outputs, sanitize=sanitize)
    if mismatch is not None and options.check_exception and _raised(expected) and not _raised(outputs):
        return replace(mismatch, summary=RAN_CLEANLY)
    return mismatch


def _raised(outputs: list) -> bool:
    return any(output.get("output_type") == "error" for output in outputs)


def judge_outputs(
    example: Example, executed: nbformat.NotebookNode, origins: list[int | None], sanitize: Sanitizer
) -> list[Mismatch]:
    """Every executed cell whose outputs differ from its reference, in the notebook's order."""
    mismatches = []
    for cell, origin in zip(executed.cells, origins, strict=True):
        if cell.cell_type != "code" or origin is None:
            continue
        reference = example.notebook.cells[origin]
        mismatch = judge_cell(origin, reference, cell.outputs, sanitize=sanitize, lax=example.meta.nbval_lax)
        if mismatch is not None:
            mismatches.append(mismatch)
    return mismatches


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
