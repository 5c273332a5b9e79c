"""`hpc-handbook book`: validate the site profile, then build the HTML handbook with Jupyter Book.

The build runs in this process, with Jupyter Book's Sphinx settings for `_config.yml`, as
`jupyter-book build` runs it. Rebuilding after an edit is dominated by starting up, so the
settings are worked out once per change of `_config.yml`, and nothing is loaded that a book
which never executes notebooks does not use.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib
import json
import sys
import traceback
import types
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from hpc_handbook.data.files import write_atomically
from hpc_handbook.profile import load_profile

#: MyST-NB's notebook execution engines, by module; they import jupyter-cache, SQLAlchemy and nbclient.
DEFERRED_ENGINES = {
    "myst_nb.core.execute.cache": "NotebookClientCache",
    "myst_nb.core.execute.direct": "NotebookClientDirect",
    "myst_nb.core.execute.inline": "NotebookClientInline",
}
#: Jupyter Book's Sphinx settings of the last build, beside the doctrees.
SETTINGS_CACHE = "handbook-sphinx-settings.json"


class BookBuildError(RuntimeError):
    """Sphinx reported errors (or warnings, in a strict build); its messages are already printed."""


class UnknownFactsError(BookBuildError):
    """A strict build's pages state site facts this site does not have: bad input (exit 2)."""

    def __init__(self, errors: dict[str, set[str]]) -> None:
        self.errors = errors
        listed = "; ".join(
            f"{page}: {error}" for page, found in sorted(errors.items()) for error in sorted(found)
        )
        super().__init__(f"pages state site facts this site does not have: {listed}")


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
    configured = (_book_config(root / "_config.yml").get("sphinx") or {}).get("config") or {}
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


def _book_config(config: Path) -> dict[str, Any]:
    return (yaml.safe_load(config.read_text(encoding="utf-8")) or {}) if config.is_file() else {}


def sphinx_settings(*, root: Path, overrides: dict[str, Any], doctrees: Path) -> dict[str, Any]:
    """Jupyter Book's Sphinx settings for the book, worked out once per change of what they depend on.

    Working them out imports Jupyter Book's configuration schema and its Jupyter client, which
    takes longer than re-reading an edited page; they depend only on what the key holds.
    """
    import jupyter_book

    config = root / "_config.yml"
    text = config.read_text(encoding="utf-8") if config.is_file() else ""
    static = (root / "_static").is_dir()  # Jupyter Book adds the folder when there is one
    key = hashlib.sha256(json.dumps([jupyter_book.__version__, text, overrides, static]).encode()).hexdigest()
    cache = doctrees / SETTINGS_CACHE
    try:
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if cached["key"] == key:
            return cached["settings"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # none yet, or from another version of this code: work them out anew
    from jupyter_book.config import get_final_config

    # The LaTeX overrides it also returns only matter to the LaTeX builder.
    settings, _ = get_final_config(
        user_yaml=config if config.is_file() else None, cli_config=dict(overrides), sourcedir=root
    )
    # Local extensions add their folders to sys.path while the settings are worked out.
    if not (_book_config(config).get("sphinx") or {}).get("local_extensions"):
        # Two builds at once must not read each other's half-written cache.
        write_atomically(cache, json.dumps({"key": key, "settings": settings}))
    return settings


def run_sphinx(
    *, root: Path, html: Path, settings: dict[str, Any], strict: bool, rebuild_all: bool
) -> tuple[int, dict[str, set[str]]]:
    """Build the HTML as `jupyter-book build` does, from its settings; return Sphinx's status and,
    per page, the site facts it states that this site does not have."""
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace, patch_docutils

    with patch_docutils(None), docutils_namespace():
        app = Sphinx(
            srcdir=root,
            confdir=None,
            outdir=html,
            doctreedir=html.parent / ".doctrees",
            buildername="html",
            confoverrides=settings,
            status=sys.stdout,
            warning=sys.stderr,
            freshenv=rebuild_all,
            warningiserror=strict,
            keep_going=strict,
        )
        app.build(False, [])
        state = getattr(app.env, "handbook_state", None)
        return app.statuscode, dict(getattr(state, "fact_errors", {}) or {})


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
def collector_paused() -> Iterator[None]:
    """Pause the garbage collector while Sphinx builds, then let it run as before.

    Loading Sphinx and its extensions creates hundreds of thousands of long-lived objects,
    and the collector would walk all of them again and again to find the few cycles a build
    leaves behind, the pages' doctrees: they stay in memory until the build ends, about
    80 MB for a full build of this book.
    """
    enabled = gc.isenabled()
    # What is loaded so far lives as long as the process; no collection needs to look at it.
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
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
    overrides = sphinx_overrides(root=root, site=site, strict=strict)
    settings = sphinx_settings(root=root, overrides=overrides, doctrees=html.parent / ".doctrees")
    defer_execution_engines()
    with collector_paused(), warnings.catch_warnings():
        # As in a fresh interpreter: other packages' deprecations are theirs to fix, not build errors.
        warnings.simplefilter("default")
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        try:
            status, fact_errors = run_sphinx(
                root=root, html=html, settings=settings, strict=strict, rebuild_all=rebuild_all
            )
        except Exception as error:
            traceback.print_exc()
            raise BookBuildError(f"Sphinx stopped: {error}") from error
    if strict and fact_errors:
        raise UnknownFactsError(fact_errors)
    if status != 0:
        raise BookBuildError(f"Sphinx reported errors (status {status})")
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
    except UnknownFactsError as error:
        # Naming what the site lacks is bad input, like a broken profile: exit 2.
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BookBuildError:
        print("error: the book build failed; see the messages above", file=sys.stderr)
        return 1
    finally:
        # The command ends here, and the build's objects would live until it does: spare the
        # collector its last walk over them, which takes longer than rebuilding an edited page.
        gc.freeze()
    print(f"\nThe handbook is built. Open it in a browser:\n  file://{html / 'index.html'}")
    return 0
