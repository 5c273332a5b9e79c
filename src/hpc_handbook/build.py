"""`hpc-handbook book`: validate the site profile, then build the HTML handbook with Jupyter Book."""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
import types
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from hpc_handbook.profile import load_profile

#: MyST-NB's notebook execution engines, by module, that import jupyter-cache and SQLAlchemy.
DEFERRED_ENGINES = {
    "myst_nb.core.execute.cache": "NotebookClientCache",
    "myst_nb.core.execute.direct": "NotebookClientDirect",
}


class BookBuildError(RuntimeError):
    """Sphinx reported errors (or warnings, in a strict build); its messages are already printed."""


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("book", help="build the HTML handbook into _build/html")
    parser.add_argument("--site", help="site profile to build for (default: site.yml)")
    parser.add_argument("--root", default=".", help="book root, with _config.yml and _toc.yml")
    parser.add_argument("--output", default=None, help="output folder; the HTML lands in OUTPUT/_build/html")
    parser.add_argument("--strict", action="store_true", help="turn warnings into errors")
    parser.add_argument("--all", action="store_true", help="rebuild every page, not just changed ones")
    parser.set_defaults(run=run)


def sphinx_overrides(*, root: Path, site: Path, strict: bool) -> dict[str, Any]:
    """The settings `jupyter-book build` would pass on, plus the profile the book is built for."""
    configured = _configured_sphinx_settings(root / "_config.yml")
    overrides: dict[str, Any] = {
        "external_toc_path": (root / "_toc.yml").as_posix(),
        "latex_individualpages": False,
        # A setting rather than $HANDBOOK_SITE, so the build leaves this process's environment alone.
        "handbook_site_profile": str(site),
        # Sphinx gives every build in a process the same default list, and the themes append to
        # it; with a list of its own, a second build's settings equal the first's, so it does not
        # rewrite every page.
        "templates_path": list(configured.get("templates_path", [])),
    }
    if strict:
        overrides["nitpicky"] = True
    return overrides


def _configured_sphinx_settings(config: Path) -> dict[str, Any]:
    """The Sphinx settings that `_config.yml` sets itself, under `sphinx: config:`."""
    if not config.is_file():
        return {}
    data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    return dict((data.get("sphinx") or {}).get("config") or {})


def defer_execution_engines() -> None:
    """Stand in for MyST-NB's execution engines until a notebook is executed, which the book never does.

    MyST-NB imports them, and with them jupyter-cache and SQLAlchemy, when Sphinx loads it,
    which takes longer than re-reading an edited page. Each stand-in imports the real engine
    the moment it is asked to run one, so a book that does execute notebooks still can.
    """
    for module_name, engine_name in DEFERRED_ENGINES.items():
        if module_name in sys.modules:
            continue  # loaded already, by an earlier build in this process

        def engine(*args: Any, _module: str = module_name, _engine: str = engine_name, **kwargs: Any) -> Any:
            sys.modules.pop(_module, None)
            return getattr(importlib.import_module(_module), _engine)(*args, **kwargs)

        stand_in = types.ModuleType(module_name, "A stand-in until a notebook is executed.")
        setattr(stand_in, engine_name, engine)
        sys.modules[module_name] = stand_in


@contextmanager
def rare_collections() -> Iterator[None]:
    """Let the garbage collector run rarely while Sphinx builds, then as it did before.

    Loading Sphinx and its extensions creates hundreds of thousands of long-lived objects;
    at the default thresholds the collector walks all of them again and again to find the
    few cycles a build leaves behind.
    """
    thresholds = gc.get_threshold()
    # What is loaded so far lives as long as the process; no collection needs to look at it.
    gc.freeze()
    gc.set_threshold(50_000, 50, 50)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def build_book(
    *,
    root: Path,
    site: Path | None = None,
    output: Path | None = None,
    strict: bool = False,
    rebuild_all: bool = False,
) -> Path:
    """Build the book and return the HTML folder; raise BookBuildError if Sphinx fails."""
    root = root.resolve()
    site = (site or root / "site.yml").resolve()
    # Validate before Sphinx starts, so a bad profile exits 2 with nothing built.
    load_profile(site)
    html = (output.resolve() if output else root) / "_build" / "html"
    # Jupyter Book's own build, called in this process: a second interpreter would import
    # Sphinx, the theme and MyST-NB again, which takes longer than rebuilding an edited page.
    from jupyter_book.sphinx import build_sphinx

    defer_execution_engines()

    config = root / "_config.yml"
    with rare_collections(), warnings.catch_warnings():
        # As in a fresh interpreter: other packages' deprecations are theirs to fix, not build errors.
        warnings.simplefilter("default")
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        result = build_sphinx(
            root,
            html,
            noconfig=True,
            path_config=config if config.is_file() else None,
            confoverrides=sphinx_overrides(root=root, site=site, strict=strict),
            builder="html",
            warningiserror=strict,
            keep_going=strict,
            freshenv=rebuild_all,
        )
    if result != 0:
        raise BookBuildError(f"the book build failed ({result!r})")
    return html


def run(args: argparse.Namespace) -> int:
    try:
        html = build_book(
            root=Path(args.root),
            site=Path(args.site) if args.site else None,
            output=Path(args.output) if args.output else None,
            strict=args.strict,
            rebuild_all=args.all,
        )
    except BookBuildError:
        print("error: the book build failed; see the messages above", file=sys.stderr)
        return 1
    finally:
        # The command ends here, and the build's objects would live until it does: spare the
        # collector its last walk over them, which takes longer than rebuilding an edited page.
        gc.freeze()
    print(f"\nThe handbook is built. Open it in a browser:\n  file://{html / 'index.html'}")
    return 0
