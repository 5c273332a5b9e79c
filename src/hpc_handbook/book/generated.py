"""Helpers for directives that render generated MyST, so roles, badges and links work as in a page.

Rendering at read time means a nitpicky build checks every link the directives make, and
each directive notes the files it reads as dependencies, so an edit re-reads just its pages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any, ClassVar

import yaml
from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from hpc_handbook.book.site_values import get_profile
from hpc_handbook.profile import Profile

logger = logging.getLogger(__name__)


@cache
def wording(name: str) -> dict[str, Any]:
    """Load one of the pages' wording files from the package's `data` folder."""
    return yaml.safe_load(files("hpc_handbook.book").joinpath("data", name).read_text(encoding="utf-8"))


def first_holding(answers: Sequence[Mapping[str, Any]], facts: Mapping[str, Any]) -> Mapping[str, Any]:
    """The first answer whose `when` fact holds; an answer without `when` always does."""
    return next(answer for answer in answers if "when" not in answer or facts[answer["when"]])


def list_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, widths: str | None = None, css: str = ""
) -> list[str]:
    """A MyST list-table with a header row; cells are MyST inline text."""
    lines = ["````{list-table}", ":header-rows: 1"]
    if widths:
        lines.append(f":widths: {widths}")
    if css:
        lines.append(f":class: {css}")
    lines.append("")
    for row in [header, *rows]:
        lines.append(f"* - {row[0]}")
        lines.extend(f"  - {cell}" for cell in row[1:])
    lines.append("````")
    return lines


def parse_markdown(
    directive: SphinxDirective, lines: Sequence[str], container: nodes.Element, *, source: str
) -> None:
    """Parse generated MyST into `container`, as if it stood in the page at the directive."""
    directive.state.nested_parse(StringList(list(lines), source=source), directive.content_offset, container)


def and_list(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def code_list(names: Sequence[str]) -> str:
    return ", ".join(f"`{name}`" for name in names) if names else "none"


def languages(profile: Profile) -> str:
    return and_list(sorted({k.language[:1].upper() + k.language[1:] for k in profile.kernels}))


def choice_argument(directive: SphinxDirective, choices: Sequence[str], *, subtype: str) -> str | None:
    """Convert the directive's argument as an option_spec would; warn and give None if it is not a choice."""
    try:
        return directives.choice(directive.arguments[0], choices)
    except ValueError as error:
        logger.warning(
            "%s: %s", directive.name, error, location=directive.get_location(),
            type="handbook", subtype=subtype,
        )  # fmt: skip
        return None


def as_choice(choices: Sequence[str]) -> Callable[[str], str]:
    """An option_spec converter that accepts one of `choices`."""
    return lambda argument: directives.choice(argument, choices)


class GeneratedMyST(SphinxDirective):
    """Base for directives whose MyST comes from the site profile."""

    has_content = False
    #: The CSS class of a container to keep the generated nodes in; None returns them bare.
    container_class: ClassVar[str | None] = None

    def markdown(self, profile: Profile) -> list[str]:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        lines = self.markdown(profile_of(self))
        container = nodes.container(classes=[self.container_class or "handbook-generated"])
        parse_markdown(self, lines, container, source="site profile")
        return [container] if self.container_class else list(container.children)

    def page(self, candidates: Sequence[str]) -> str:
        """A link to the first candidate page that is in this book."""
        return f"{{doc}}`/{first_in_book(self, candidates)}`"


def profile_of(directive: SphinxDirective) -> Profile:
    """The profile the book is built for, noted as a dependency of the page being read."""
    directive.env.note_dependency(str(directive.env.app.handbook_profile_path))  # type: ignore[attr-defined]
    return get_profile(directive.env.app)


def first_in_book(directive: SphinxDirective, candidates: Sequence[str]) -> str:
    """The first of `candidates` that is a page of this book, else the first of them."""
    found = directive.env.found_docs
    return next((c for c in candidates if c in found), next(iter(candidates)))
