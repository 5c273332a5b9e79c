"""The `hpc-handbook` command: one entry point for every tool the nox sessions wrap."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hpc_handbook import __version__
from hpc_handbook.errors import HandbookInputError

# Each module adds its own subcommands with `add_commands(subparsers)`; the parser
# stores the function to call as `args.run`. Keep the list in menu order.
COMMAND_MODULES = [
    "hpc_handbook.build",
    "hpc_handbook.profile.command",
    "hpc_handbook.changelog.command",
    "hpc_handbook.reference_site.command",
    "hpc_handbook.probe.command",
    "hpc_handbook.drift.command",
    "hpc_handbook.prose.command",
    "hpc_handbook.waiting_times.command",
    "hpc_handbook.doc_ci.command",
    "hpc_handbook.doc_ci.plan.command",
    "hpc_handbook.doc_ci.notify.command",
    "hpc_handbook.doc_ci.ui.command",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hpc-handbook", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; bad input exits with code 2 and one clear message."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except HandbookInputError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
