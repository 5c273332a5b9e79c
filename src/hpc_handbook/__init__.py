"""Tooling for the Jupyter@HPC handbook: site profile, reference site, doc CI and the book extension."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def setup(app: Any) -> dict[str, Any]:
    """Set up the handbook's Sphinx extension (imported lazily so the CLI never loads Sphinx)."""
    from hpc_handbook.book import setup_book

    return setup_book(app)
