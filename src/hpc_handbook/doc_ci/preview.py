"""`hpc-handbook preview`: the book as a merge request would publish it, its changed pages listed first.

It builds the book strictly and writes `changed.html` beside its index: a page that lists the
pages whose text or rendered site facts the change touched, each linked, so a reviewer opens
the preview where the change is. The same list goes to standard output for the job summary.
"""

from __future__ import annotations

import argparse
import html
from pathlib import Path

from hpc_handbook.build import BookBuildError, build_book
from hpc_handbook.data.files import write_atomically
from hpc_handbook.data.snapshot import DEFAULT_SNAPSHOT, load_snapshot
from hpc_handbook.doc_ci.change_plan import ChangePlan, plan_change
from hpc_handbook.profile import load_profile

CHANGED_PAGE = "changed.html"


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "preview", help="build the book strictly, with a page listing what a change touched"
    )
    parser.add_argument("--changed-since", metavar="REF", required=True, help="the merge request's target")
    parser.add_argument("--site", help="site profile (default: site.yml)")
    parser.add_argument("--root", default=".", help="book root, with _config.yml and _toc.yml")
    parser.add_argument("--output", default=None, help="output folder; the HTML lands in OUTPUT/_build/html")
    parser.set_defaults(run=run)


def _href(page: str) -> str:
    return page.rsplit(".", 1)[0] + ".html"


def changed_page_html(plan: ChangePlan) -> str:
    items = "\n".join(
        f'<li><a href="{html.escape(_href(page))}">{html.escape(page)}</a></li>'
        for page in plan.changed_pages
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


def run(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve()
    profile = load_profile(args.site)
    plan = plan_change(root, args.changed_since, profile, load_snapshot(root / DEFAULT_SNAPSHOT))
    try:
        built = build_book(
            root=root,
            site=Path(args.site) if args.site else None,
            output=Path(args.output) if args.output else None,
            strict=True,
        )
    except BookBuildError as error:
        print(f"error: the book build failed: {error}")
        return 2 if getattr(error, "errors", None) else 1
    write_atomically(built / CHANGED_PAGE, changed_page_html(plan))
    print(f"Pages this change touches ({len(plan.changed_pages)}), against {plan.base}:")
    for page in plan.changed_pages:
        print(f"- {page} → {_href(page)}")
    print(f"\nThe preview: {built / CHANGED_PAGE}")
    return 0
