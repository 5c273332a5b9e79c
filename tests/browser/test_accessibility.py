"""axe-core finds no serious or critical accessibility problem on any page of the book, in the
light and in the dark colour scheme. What it finds of any impact is reported after the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import AXE_RESULTS, ServedBook

pytestmark = pytest.mark.browser

FAILING_IMPACTS = ("serious", "critical")
SCHEMES = ("light", "dark")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_no_serious_accessibility_violation(
    browser: Any, served_book: ServedBook, axe_script: Path, scheme: str
) -> None:
    context = browser.new_context(color_scheme=scheme)
    page = context.new_page()
    serious = {}
    try:
        for path in served_book.pages():
            if path == "index.html":
                continue  # only a redirect to book/index.html
            page.goto(served_book.url(path))
            assert page.evaluate("document.documentElement.dataset.theme") == scheme, path
            page.add_script_tag(path=str(axe_script))
            # The WCAG 2.x A and AA rules and axe's best practices, on the whole page.
            results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
            violations = results["violations"]
            AXE_RESULTS[f"{path} ({scheme})"] = violations
            if found := [v for v in violations if v["impact"] in FAILING_IMPACTS]:
                serious[path] = found
    finally:
        context.close()
    assert not serious, f"in the {scheme} scheme: " + "; ".join(
        f"{path}: [{v['impact']}] {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes'][:5]]}"
        for path, found in serious.items()
        for v in found
    )
