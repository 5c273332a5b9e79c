"""`hpc-handbook profile`: validate a site profile and print a summary."""

from __future__ import annotations

import argparse

from hpc_handbook.profile import load_profile


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("profile", help="validate a site profile (site.yml)")
    parser.add_argument("--site", help="the profile to check (default: $HANDBOOK_SITE or site.yml)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    profile = load_profile(args.site)
    partitions = ", ".join(p.name for p in profile.partitions)
    kernels = ", ".join(k.name for k in profile.kernels)
    print(f"{profile.site.name} ({profile.site.short_name}): profile is valid")
    print(f"  partitions: {partitions}")
    print(f"  kernels:    {kernels}")
    return 0
