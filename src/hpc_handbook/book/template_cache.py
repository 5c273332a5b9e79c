"""Keep the HTML theme's compiled page templates between builds.

Sphinx compiles every Jinja template of the theme anew in each build, which takes longer
than rendering the few pages that an edit rewrites. Jinja's bytecode cache stores the
compiled code beside the doctrees, keyed by each template's source, so an edited template
is compiled again and the pages come out the same.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import FileSystemBytecodeCache
from sphinx.application import Sphinx


def cache_compiled_templates(app: Sphinx) -> None:
    environment = getattr(getattr(app.builder, "templates", None), "environment", None)
    if environment is None:
        return  # a builder without Jinja templates, such as latex
    directory = Path(app.doctreedir) / "handbook-templates"
    directory.mkdir(parents=True, exist_ok=True)
    environment.bytecode_cache = FileSystemBytecodeCache(str(directory))


def setup_template_cache(app: Sphinx) -> None:
    app.connect("builder-inited", cache_compiled_templates)
