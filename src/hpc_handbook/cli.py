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
    "hpc_handbook.profile_cli",
    "hpc_handbook.changelog_cli",
    "hpc_handbook.reference_site",
    "hpc_handbook.probe",
    "hpc_handbook.drift",
    "hpc_handbook.prose.command",
    "hpc_handbook.prose.stale_command",
    "hpc_handbook.waiting_times",
    "hpc_handbook.doc_ci.cli",
    "hpc_handbook.doc_ci.preview",
    "hpc_handbook.doc_ci.alert_example",
    "hpc_handbook.reference_site.service_bench",
    "hpc_handbook.reference_site.ui_commands",
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
