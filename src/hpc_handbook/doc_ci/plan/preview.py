"""The preview's first page, `changed.html`: the pages a change touched, each linked, and the examples
the doc CI runs for it, so a reviewer opens the built book where the change is."""

from __future__ import annotations

import html

from hpc_handbook.doc_ci.plan.change import ChangePlan

CHANGED_PAGE = "changed.html"


def href(page: str) -> str:
    return page.rsplit(".", 1)[0] + ".html"


def changed_page_html(plan: ChangePlan) -> str:
    items = "\n".join(
        f'<li><a href="{html.escape(href(page))}">{html.escape(page)}</a></li>' for page in plan.changed_pages
    )
    picks = "\n".join(f"<li>{html.escape(p.example)}: {html.escape(p.why)}</li>" for p in plan.picks)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Pages this change touches</title></head><body><main>\n"
        f"<h1>Pages this change touches, against {html.escape(plan.base)}</h1>\n"
        f"<ul>\n{items or '<li>No page: the change touches no page text or site fact.</li>'}\n</ul>\n"
        f"<h2>Examples the doc CI runs for it</h2>\n<ul>\n{picks or '<li>None.</li>'}\n</ul>\n"
        '<p><a href="index.html">The whole book</a></p>\n</main></body></html>\n'
    )
