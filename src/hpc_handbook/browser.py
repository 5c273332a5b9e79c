"""Headless Chromium for the tools that look at pages as a reader does: Debian's, driven by Playwright.

Playwright never downloads a browser of its own here: it drives the machine's `chromium`
(`apt-get install chromium`, which `nox -s site -- up` does), or the one $HANDBOOK_CHROMIUM
names. The browser tests and the UI check both launch it through `chromium()`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

#: Debian's chromium; HANDBOOK_CHROMIUM names another build of Chromium.
CHROMIUM = os.environ.get("HANDBOOK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    # Nothing is sent off this machine: every other host fails to resolve, so a page that
    # fetches from one (news, updates, a CDN) shows up as a failed request, not a slow one.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


class BrowserUnavailable(RuntimeError):
    """No browser can be driven here; the message says what is missing and how to install it."""


def chromium_version() -> str:
    try:
        result = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"(cannot run it: {error})"
    return ((result.stdout or result.stderr).strip().splitlines() or ["(no version)"])[0]


def first_line(error: BaseException) -> str:
    """An error's first line (Playwright's go on with a call log), or its type when it has no text."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextmanager
def chromium() -> Iterator[Any]:
    """One headless Chromium, closed afterwards; BrowserUnavailable when there is none to drive."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        raise BrowserUnavailable(
            "Playwright for Python is not installed: install the test extras "
            "(`pip install -e '.[test]'`, which every nox session does)"
        ) from None
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        raise BrowserUnavailable(
            f"no Chromium at {CHROMIUM}: install Debian's with `apt-get install chromium` "
            "(`nox -s site -- up` does), or name another one in $HANDBOOK_CHROMIUM"
        )
    with sync_playwright() as manager:
        try:
            browser = manager.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as error:
            raise BrowserUnavailable(
                f"Playwright {version('playwright')} cannot drive {CHROMIUM} ({chromium_version()}): "
                f"{first_line(error)}. Install a Chromium of a version this Playwright supports "
                "(`apt-get install chromium`), or a Playwright release that supports this one"
            ) from None
        try:
            yield browser
        finally:
            browser.close()
