"""The bench's prose row: the prose check over the whole book, beside a clean build of the same book.

Both run as a contributor runs them, as commands in fresh processes, on the repository's own
pages and examples; the build writes into a temporary folder so the book's own output is kept.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The prose check must stay quick enough to run on every change: seconds, on two cores.
TARGET_S = 5.0


def _timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done


def measure_prose(root: Path) -> str:
    """Time `hpc-handbook prose` and `hpc-handbook book --all` on the book at `root`; the table's text."""
    tool = shutil.which("hpc-handbook") or str(Path(sys.executable).with_name("hpc-handbook"))
    prose_s, prose = _timed([tool, "prose", "--root", str(root)])
    with tempfile.TemporaryDirectory(prefix="handbook-bench-book-") as output:
        book_s, book = _timed([tool, "book", "--root", str(root), "--all", "--output", output])
    if book.returncode != 0:
        return f"prose check: {prose_s:.2f} s; the book did not build: {book.stderr.strip()[-300:]}"
    pages = len(list((root / "book").rglob("*.md"))) + len(list((root / "examples").glob("*.ipynb")))
    verdict = "findings" if prose.returncode == 1 else "no finding" if prose.returncode == 0 else "error"
    within = "within" if prose_s <= TARGET_S else "beyond"
    return "\n".join(
        [
            "| Check | Time | Against a clean build |",
            "| --- | --- | --- |",
            f"| prose check, {pages} pages and examples ({verdict}) | {prose_s:.2f} s "
            f"({within} the {TARGET_S:.0f} s target) | {prose_s / book_s:.2f} times |",
            f"| clean book build | {book_s:.1f} s | 1 |",
        ]
    )
