"""Which pages show a value: by its name in their text, by a directive that renders it, or by a
site fact they state about its component."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from hpc_handbook.site_facts import look_up
from hpc_handbook.site_facts.markup import fact_uses
from hpc_handbook.site_facts.vocabulary import Vocabulary

#: Directives that render a table of each kind of component from the profile or the snapshot.
DIRECTIVES = {
    "kernel": ("site-kernels",),
    "partition": ("site-partitions", "site-spawn-form", "waiting-times"),
    "module": ("site-modules",),
    "hub": ("site-spawn-form",),
    # The users' extensions and proxy applications: the status page and the limitations list them.
    "jupyter": ("system-status", "site-limitations"),
    # The status page lists each node's state from the committed snapshot.
    "node": ("site-partitions", "system-status"),
}
#: The status page shows versions from the committed snapshot, so version changes concern it too.
SNAPSHOT_DIRECTIVES = ("system-status",)


def name_pattern(name: str) -> re.Pattern[str]:
    # Kernel and module names contain '-' and '/', so `python3` must not match `python3-batch`.
    return re.compile(r"(?<![\w/.-])" + re.escape(name) + r"(?![\w-]|[./]\w)")


def _page_texts(root: Path) -> Iterable[tuple[str, str, str | None]]:
    """Yield (page path, text, notebook kernel name) for the book's pages and examples."""
    for path in sorted((root / "book").rglob("*.md")):
        if "_build" not in path.parts:
            yield path.relative_to(root).as_posix(), path.read_text(encoding="utf-8"), None
    for path in sorted((root / "examples").glob("*.ipynb")):
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        sources = []
        for cell in notebook.get("cells", []):
            source = cell.get("source", "")
            sources.append("".join(source) if isinstance(source, list) else str(source))
        kernel = ((notebook.get("metadata") or {}).get("kernelspec") or {}).get("name")
        yield path.relative_to(root).as_posix(), "\n".join(sources), kernel


def find_pages(
    root: Path,
    *,
    names: Sequence[str] = (),
    directives: Sequence[str] = (),
    components: Sequence[str] = (),
    vocabulary: Vocabulary | None = None,
) -> list[str]:
    """Pages that mention a name, use a directive, or state a fact about a component
    (`partition:batch`, as `hpc_handbook.site_facts` names them); notebooks also by their kernel."""
    name_patterns = [name_pattern(n) for n in names]
    directive_pattern = (
        re.compile(r"\{(" + "|".join(map(re.escape, directives)) + r")\}") if directives else None
    )
    wanted = set(components)
    pages = []
    for page, text, kernel in _page_texts(root):
        if (
            (kernel is not None and kernel in names)
            or any(p.search(text) for p in name_patterns)
            or (directive_pattern is not None and directive_pattern.search(text))
            or (wanted and vocabulary is not None and wanted & _fact_components(text, vocabulary))
        ):
            pages.append(page)
    return pages


def _fact_components(text: str, vocabulary: Vocabulary) -> set[str]:
    """The components whose facts a page states."""
    found: set[str] = set()
    for use in fact_uses(text):
        try:
            found.update(look_up(vocabulary, use.key).components)
        except LookupError:
            continue  # the prose check reports a fact the site lacks
    return found
