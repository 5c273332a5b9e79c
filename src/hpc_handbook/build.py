"""`hpc-handbook book`: validate the site profile, then build the HTML handbook with Jupyter Book."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from hpc_handbook.profile import PROFILE_ENV_VAR, load_profile


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("book", help="build the HTML handbook into _build/html")
    parser.add_argument("--site", help="site profile to build for (default: site.yml)")
    parser.add_argument("--root", default=".", help="book root, with _config.yml and _toc.yml")
    parser.add_argument("--output", default=None, help="output folder; the HTML lands in OUTPUT/_build/html")
    parser.add_argument("--strict", action="store_true", help="turn warnings into errors")
    parser.add_argument("--all", action="store_true", help="rebuild every page, not just changed ones")
    parser.set_defaults(run=run)


def build_book(
    *,
    root: Path,
    site: Path | None = None,
    output: Path | None = None,
    strict: bool = False,
    rebuild_all: bool = False,
) -> Path:
    """Build the book and return the HTML folder; raise CalledProcessError if Sphinx fails."""
    root = root.resolve()
    site = (site or root / "site.yml").resolve()
    # Validate before Sphinx starts, so a bad profile exits 2 with nothing built.
    load_profile(site)
    # jupyter_book has no __main__; call its click entry point in this interpreter.
    entry_point = "from jupyter_book.cli.main import main; main()"
    command = [sys.executable, "-c", entry_point, "build", str(root), "--builder", "html"]
    if output is not None:
        command += ["--path-output", str(output.resolve())]
    if strict:
        command += ["--warningiserror", "--nitpick", "--keep-going"]
    if rebuild_all:
        command.append("--all")
    subprocess.run(command, check=True, env={**os.environ, PROFILE_ENV_VAR: str(site)})
    return (output.resolve() if output else root) / "_build" / "html"


def run(args: argparse.Namespace) -> int:
    try:
        html = build_book(
            root=Path(args.root),
            site=Path(args.site) if args.site else None,
            output=Path(args.output) if args.output else None,
            strict=args.strict,
            rebuild_all=args.all,
        )
    except subprocess.CalledProcessError as error:
        print(
            f"error: the book build failed (exit code {error.returncode}); see the messages above",
            file=sys.stderr,
        )
        return 1
    print(f"\nThe handbook is built. Open it in a browser:\n  file://{html / 'index.html'}")
    return 0
