"""`hpc-handbook probe`: write the snapshot, and changelog fragments for what changed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hpc_handbook.changes.detect import snapshot_changes
from hpc_handbook.changes.fragments import write_change_fragments
from hpc_handbook.data.snapshot import DEFAULT_SNAPSHOT, named_or_baseline, write_snapshot
from hpc_handbook.probe.snapshot import carry_retired, probe_snapshot
from hpc_handbook.profile import load_profile


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "probe", help="record the site's kernels, modules and partitions in a snapshot"
    )
    parser.add_argument("--site", help="site profile (default: site.yml)")
    parser.add_argument(
        "--output", default=str(DEFAULT_SNAPSHOT), help=f"snapshot to write (default: {DEFAULT_SNAPSHOT})"
    )
    parser.add_argument(
        "--changelog",
        metavar="DIR",
        help="also write changelog fragments for what changed since the last committed snapshot",
    )
    parser.add_argument("--previous", help="compare with this snapshot instead of the committed one")
    parser.add_argument("--kernel-timeout", type=float, default=120.0, help="seconds to wait for each kernel")
    parser.add_argument(
        "--jupyter-python",
        help="at a site without a hub: the Python of its Jupyter server "
        "(default: the one `jupyter-lab` on PATH runs with)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    profile = load_profile(args.site)
    output = Path(args.output)
    previous = named_or_baseline(args.previous, output, what="a snapshot to compare with")
    snapshot = probe_snapshot(profile, kernel_timeout=args.kernel_timeout, jupyter_python=args.jupyter_python)
    snapshot = carry_retired(previous, snapshot)
    write_snapshot(output, snapshot)
    failed = sorted(name for name, kernel in snapshot.kernels.items() if kernel.error)
    print(
        f"Probed {len(snapshot.kernels)} kernels, {len(snapshot.partitions)} partitions and "
        f"{len(snapshot.modules.available)} modules; wrote {output}"
    )
    for name in failed:
        print(f"warning: kernel {name}: {snapshot.kernels[name].error}", file=sys.stderr)
    if args.changelog:
        if previous is None:
            print("No earlier snapshot to compare with; no changelog fragments written.")
        else:
            changes = snapshot_changes(previous, snapshot, profile=profile)
            written = write_change_fragments(
                Path(args.changelog), changes, date=snapshot.taken, site=snapshot.site
            )
            for path in written:
                print(f"Wrote {path}")
            if not written:
                print("No system changes since the last committed snapshot.")
    return 0
