"""`hpc-handbook drift`: check a probe of the site against the profile and the committed snapshot."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from hpc_handbook.data.files import require
from hpc_handbook.data.snapshot import DEFAULT_SNAPSHOT, REGENERATE_COMMAND, load_snapshot, named_or_baseline
from hpc_handbook.drift.check import check_drift
from hpc_handbook.drift.findings import Drift
from hpc_handbook.probe.snapshot import probe_snapshot
from hpc_handbook.profile import load_profile

#: Exit code when the site and the handbook disagree (2 stays reserved for bad input).
DRIFT_EXIT_CODE = 1


def format_drift(found: Sequence[Drift]) -> str:
    if not found:
        return "No drift: the site matches site.yml and the committed snapshot."
    lines = [
        f"Drift: {len(found)} mismatch{'es' if len(found) != 1 else ''} between the handbook and the site"
    ]
    for drift in found:
        lines.append(f"- {drift.kind} {drift.name}: {drift.message}")
        lines.append(f"    pages: {', '.join(drift.pages) if drift.pages else '(none found)'}")
    return "\n".join(lines)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("drift", help="check the site against site.yml and the committed snapshot")
    parser.add_argument("--site", help="site profile (default: site.yml)")
    parser.add_argument("--snapshot", help="check this snapshot instead of probing the site now")
    parser.add_argument(
        "--baseline",
        help=f"snapshot to compare versions with (default: the committed {DEFAULT_SNAPSHOT})",
    )
    parser.add_argument("--root", default=".", help="repository root, searched for affected pages")
    parser.add_argument("--json", action="store_true", help="print the mismatches as JSON")
    parser.add_argument("--kernel-timeout", type=float, default=120.0, help="seconds to wait for each kernel")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    profile = load_profile(args.site)
    root = Path(args.root)
    baseline = named_or_baseline(
        args.baseline, root / DEFAULT_SNAPSHOT, what="a snapshot to compare versions with"
    )
    if args.snapshot:
        path = Path(args.snapshot)
        snapshot = require(load_snapshot(path), path, what="a snapshot to check")
    else:
        snapshot = probe_snapshot(profile, kernel_timeout=args.kernel_timeout)
    found = check_drift(profile, snapshot, baseline=baseline, root=root)
    if args.json:
        print(json.dumps([d.to_json() for d in found], indent=2, sort_keys=True))
    else:
        print(format_drift(found))
        if any(d.versions for d in found):
            print(
                f"\nVersions changed: re-run `{REGENERATE_COMMAND}` and commit the snapshot.", file=sys.stderr
            )
    return DRIFT_EXIT_CODE if found else 0
