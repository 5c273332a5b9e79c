"""`hpc-handbook preview`: the book as a merge request would publish it, its changed pages listed."""

from __future__ import annotations

import argparse
from pathlib import Path

from hpc_handbook.build import BookBuildError, build_book
from hpc_handbook.data.files import write_atomically
from hpc_handbook.data.snapshot import DEFAULT_SNAPSHOT, load_snapshot
from hpc_handbook.doc_ci.plan.change import plan_change
from hpc_handbook.doc_ci.plan.preview import CHANGED_PAGE, changed_page_html, href
from hpc_handbook.profile import load_profile


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "preview", help="build the book strictly, with a page listing what a change touched"
    )
    parser.add_argument("--changed-since", metavar="REF", required=True, help="the merge request's target")
    parser.add_argument("--site", help="site profile (default: site.yml)")
    parser.add_argument("--root", default=".", help="book root, with _config.yml and _toc.yml")
    parser.add_argument("--output", default=None, help="output folder; the HTML lands in OUTPUT/_build/html")
    parser.set_defaults(run=run)


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
        print(f"- {page} → {href(page)}")
    print(f"\nThe preview: {built / CHANGED_PAGE}")
    return 0
