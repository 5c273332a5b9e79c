"""`hpc-handbook changelog`: check the changelog fragments before the book and feeds are built from them."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from hpc_handbook.changelog.fragments import AUDIENCES, check_fragments

#: Where the fragments live, relative to the repository root.
DEFAULT_CHANGELOG_DIR = Path("changelog")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("changelog", help="work with the changelog fragments")
    commands = parser.add_subparsers(title="changelog commands", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check", help="validate every fragment; a bad one is reported with its file and field (exit code 2)"
    )
    check.add_argument(
        "directory",
        nargs="?",
        default=str(DEFAULT_CHANGELOG_DIR),
        metavar="DIR",
        help=f"folder of fragments (default: {DEFAULT_CHANGELOG_DIR})",
    )
    check.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    # A bad fragment raises HandbookInputError(s); the CLI's main reports it and exits 2.
    fragments = check_fragments(Path(args.directory))
    per_audience = Counter(audience for fragment in fragments for audience in fragment.meta.audiences)
    counts = ", ".join(f"{per_audience[audience]} for {audience}" for audience in AUDIENCES)
    print(f"{len(fragments)} changelog fragments are valid ({counts}).")
    return 0
