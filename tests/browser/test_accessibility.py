"""axe-core finds no serious or critical accessibility problem on the landing page, one page of
each track and every reference page. What it finds of any impact is reported after the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import AXE_RESULTS, ServedBook

pytestmark = pytest.mark.browser

#: The landing page and one page per track; the reference pages are found in the build.
PAGES = [
    "book/index.html",
    "book/start/log-in.html",
    "book/recipes/ssh-tunnel.html",
    "book/operate/adopt.html",
]
REFERENCE_PAGES = sorted(
    f"book/reference/{path.stem}.html"
    for path in (Path(__file__).resolve().parents[2] / "book" / "reference").glob("*.md")
)
FAILING_IMPACTS = ("serious", "critical")


@pytest.mark.parametrize("path", PAGES + REFERENCE_PAGES)
def test_no_serious_accessibility_violation(
    browser: Any, served_book: ServedBook, axe_script: Path, path: str
) -> None:
    page = browser.new_page()
    try:
        page.goto(served_book.url(path))
        page.add_script_tag(path=str(axe_script))
        # The WCAG 2.x A and AA rules and axe's best practices, on the whole page.
        results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    finally:
        page.close()
    violations = results["violations"]
    AXE_RESULTS[path] = violations
    serious = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    assert not serious, f"{path}: " + "; ".join(
        f"[{v['impact']}] {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes'][:5]]}" for v in serious
    )
