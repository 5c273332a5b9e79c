"""`hpc-handbook stale-data`: list the figures older than the site, and with `--measure` measure them again.

`nox -s refresh` runs it with `--measure` after the examples and screenshots, so one command
brings every page's data up to the site: waiting times from a new job mix on the real
scheduler, and spawn times on every place of the form. Each measurement runs as its own
command, exactly as an admin would run it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from hpc_handbook.data.snapshot import DEFAULT_SNAPSHOT
from hpc_handbook.profile import load_profile
from hpc_handbook.prose.freshness_check import stale_figures
from hpc_handbook.site_facts.freshness import SPAWNS_COMMAND, WAITING_TIMES_COMMAND
from hpc_handbook.site_facts.vocabulary import load_vocabulary

#: The commands that measure each kind of stale figure again, in order, and whether each reads the profile.
MEASUREMENTS = {
    WAITING_TIMES_COMMAND: [(["waiting-times", "generate"], False), (["waiting-times", "collect"], True)],
    SPAWNS_COMMAND: [(["service-bench"], True)],
}


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stale-data", help="list figures older than the site; --measure redoes them"
    )
    parser.add_argument("--site", help="site profile (default: $HANDBOOK_SITE or site.yml)")
    parser.add_argument("--root", default=".", help="the book's root, with book/ and examples/")
    parser.add_argument(
        "--measure", action="store_true", help="measure the stale waiting and spawn times again"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    root = Path(args.root)
    profile = load_profile(args.site)
    vocabulary = load_vocabulary(profile, snapshot=root / DEFAULT_SNAPSHOT, examples=root / "examples")
    stale = stale_figures(root, vocabulary)
    if not stale:
        print("stale-data: every figure covers the site as it is now")
        return 0
    for figure in stale:
        print(f"stale-data: {figure.line()}")
    if not args.measure:
        return 1
    tool = shutil.which("hpc-handbook") or str(Path(sys.executable).with_name("hpc-handbook"))
    site = ["--site", args.site] if args.site else []
    for command in dict.fromkeys(figure.command for figure in stale):
        for step, reads_profile in MEASUREMENTS.get(command, []):
            print(f"stale-data: measuring again: hpc-handbook {' '.join(step)}", flush=True)
            if subprocess.run([tool, *step, *(site if reads_profile else [])], check=False).returncode != 0:
                return 1
        if command not in MEASUREMENTS:
            print(f"stale-data: refresh it with `{command}`")
    return 0
