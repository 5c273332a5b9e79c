"""Fixtures for the browser tests: the built book served on loopback, headless Chromium, axe-core.

The book is built once per session and served by a thread of this process on 127.0.0.1 (an
ephemeral port), because search and the theme's scripts do not work from file:// URLs.
Chromium is Debian's (`apt-get install chromium`), driven by Playwright for Python and launched
by `hpc_handbook.browser` (CHROMIUM_ARGS there), as the UI check launches it; Playwright
never downloads a browser of its own here. Where one is missing, the tests are skipped with
the reason, except in CI (CI=true), where a skipped browser test would hide that it never ran.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from book.helpers import REPO, Book, build, copy_book

#: Pinned: a new axe-core release adds rules, which must not fail a run that changed nothing.
AXE_CORE_VERSION = "4.14.1"
#: Where npm installs axe-core: a folder of the project's, ignored by git like every `.nox` folder.
AXE_CORE_DIR = REPO / ".nox" / "browser-tools" / f"axe-core-{AXE_CORE_VERSION}"
#: The accessibility results of this run, reported after the tests (see pytest_terminal_summary).
AXE_RESULTS: dict[str, list[dict[str, Any]]] = {}


def unavailable(reason: str) -> None:
    """Skip for a missing tool, but fail in CI, where every browser test must run."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class ServedBook:
    book: Book
    base_url: str

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path}"

    def pages(self) -> list[str]:
        """Every HTML page of the build, by path relative to the output."""
        return sorted(
            str(path.relative_to(self.book.html))
            for path in self.book.html.rglob("*.html")
            if not {"_static", "_sources"} & set(path.relative_to(self.book.html).parts)
        )


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would bury the test output

    def end_headers(self) -> None:
        # The pages share the theme's files: fetched once, not again for each of the pages.
        self.send_header("Cache-Control", "max-age=600")
        super().end_headers()


@pytest.fixture(scope="session")
def served_book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedBook]:
    root = copy_book(tmp_path_factory.mktemp("browser-book"))
    book = Book(root=root, html=build(root))
    handler = functools.partial(_QuietHandler, directory=str(book.html))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="book-server", daemon=True)
    thread.start()
    try:
        yield ServedBook(book=book, base_url=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole session (the one the UI check launches too)."""
    from hpc_handbook.browser import BrowserUnavailable, chromium

    try:
        with chromium() as launched:
            yield launched
    except BrowserUnavailable as error:
        unavailable(str(error))


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core's script, installed with npm once into a folder of the project's."""
    script = AXE_CORE_DIR / "node_modules" / "axe-core" / "axe.min.js"
    if script.is_file():
        return script
    npm = shutil.which("npm")
    if npm is None:
        unavailable(
            f"npm is not installed, so axe-core {AXE_CORE_VERSION} cannot be installed for the "
            "accessibility tests: install it with `apt-get install npm`"
        )
    AXE_CORE_DIR.parent.mkdir(parents=True, exist_ok=True)
    # Into a fresh folder, then renamed: a second run at the same time never sees half an install.
    staging = Path(tempfile.mkdtemp(prefix="axe-core-", dir=AXE_CORE_DIR.parent))
    result = subprocess.run(
        [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund", "--no-save",
         f"axe-core@{AXE_CORE_VERSION}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        unavailable(f"`npm install axe-core@{AXE_CORE_VERSION}` failed: {result.stderr.strip()[-500:]}")
    try:
        staging.rename(AXE_CORE_DIR)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another run installed it first
    return script


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Report every accessibility finding, of every impact, whether or not a test failed."""
    if not AXE_RESULTS:
        return
    terminalreporter.section(f"accessibility (axe-core {AXE_CORE_VERSION})")
    for page, violations in sorted(AXE_RESULTS.items()):
        if not violations:
            terminalreporter.line(f"{page}: no violations")
            continue
        terminalreporter.line(f"{page}: {len(violations)} rule(s) violated")
        for violation in violations:
            terminalreporter.line(
                f"  [{violation['impact']}] {violation['id']}: {violation['help']} "
                f"({len(violation['nodes'])} element(s), e.g. {violation['nodes'][0]['target']})"
            )
