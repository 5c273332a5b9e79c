"""`hpc-handbook alert-example`: record the alerts of one example planted to fail on the site."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from hpc_handbook.data.alert_example import ALERT_EXAMPLE, write_alert_example
from hpc_handbook.doc_ci.notify.example import AlertRecordingError, record
from hpc_handbook.profile import load_profile


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "alert-example",
        help="run one example planted to fail on the site and record the alerts it sends, sanitized",
    )
    parser.add_argument("--site", help="site profile (default: site.yml)")
    parser.add_argument("--examples-dir", default="examples", help="where the example to copy is")
    parser.add_argument("--output", default=str(ALERT_EXAMPLE), help="where the recording goes")
    parser.set_defaults(run=alert_example_command)


def alert_example_command(args: argparse.Namespace) -> int:
    profile = load_profile(args.site)
    try:
        recorded = record(profile, site=args.site, examples_dir=Path(args.examples_dir))
    except (AlertRecordingError, subprocess.TimeoutExpired) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    write_alert_example(Path(args.output), recorded)
    print(f"wrote {args.output}: the alerts of {recorded.planted.example}, planted to fail")
    return 0
