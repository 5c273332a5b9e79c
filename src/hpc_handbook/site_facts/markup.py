"""How pages write site facts, read without Sphinx: for the prose check and the drift check.

The book's roles and directive (`hpc_handbook.book.site_facts`) render the same markup:

    {site}`KEY`   {site-link}`KEY`   {site-code}`... {{ KEY }} ...`

    ```{site-code-block} bash
    ... {{ KEY }} ...
    ```

`render` fills every fact into the text line for line, so what a reader sees can be checked
where it stands; a `{{ ... }}` anywhere else is a placeholder that no page would fill.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hpc_handbook.site_facts.facts import FactAbsent, UnknownFact, look_up
from hpc_handbook.site_facts.vocabulary import Vocabulary

#: `{site}`key``, `{site-link}`key`` and `{site-code}`template``.
FACT_ROLE = re.compile(r"\{(site|site-link|site-code)\}`([^`\n]*)`")
PLACEHOLDER = re.compile(r"\{\{\s*([^{}\n]+?)\s*\}\}")
#: Jinja's other markers, which no page renders either.
TEMPLATE_MARKER = re.compile(r"\{\{|\{%")
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(\{[\w-]+\})?")
SITE_CODE_BLOCK = "{site-code-block}"


@dataclass(frozen=True)
class FactUse:
    key: str
    #: 1-based, within the text given.
    line: int


@dataclass
class Rendered:
    """A text with its facts filled in, and what could not be filled."""

    text: str
    #: (line, key, reason) for each key that names nothing this site has.
    unknown: list[tuple[int, str, str]] = field(default_factory=list)
    #: (line, snippet) for each `{{` or `{%` that no role or directive fills.
    unfilled: list[tuple[int, str]] = field(default_factory=list)


def _code_block_lines(lines: list[str]) -> list[bool]:
    """For each line, whether it is inside a `site-code-block` fence (the fence lines excluded)."""
    inside, marks, fence = False, [], ""
    for line in lines:
        match = _FENCE.match(line)
        if inside:
            closes = match is not None and match.group(3) is None and match.group(2).startswith(fence)
            marks.append(not closes)
            inside = not closes
        else:
            marks.append(False)
            if match is not None and match.group(3) == SITE_CODE_BLOCK:
                inside, fence = True, match.group(2)
    return marks


def fact_uses(text: str) -> list[FactUse]:
    """Every fact key the text names, with its line."""
    uses = []
    lines = text.splitlines()
    in_block = _code_block_lines(lines)
    for number, line in enumerate(lines, start=1):
        for role in FACT_ROLE.finditer(line):
            if role.group(1) == "site-code":
                uses += [FactUse(m.group(1).strip(), number) for m in PLACEHOLDER.finditer(role.group(2))]
            else:
                uses.append(FactUse(role.group(2).strip(), number))
        if in_block[number - 1]:
            uses += [FactUse(m.group(1).strip(), number) for m in PLACEHOLDER.finditer(line)]
    return uses


def render(text: str, vocabulary: Vocabulary) -> Rendered:
    """The text as a reader sees it: facts filled in, line for line."""
    result = Rendered(text="")
    lines = text.splitlines(keepends=True)
    in_block = _code_block_lines([line.rstrip("\n") for line in lines])

    def value(key: str, number: int) -> str:
        try:
            return look_up(vocabulary, key).value
        except FactAbsent as absent:
            return f"({absent})"
        except UnknownFact as unknown:
            result.unknown.append((number, key, str(unknown)))
            return key

    def fill(template: str, number: int) -> str:
        return PLACEHOLDER.sub(lambda m: value(m.group(1).strip(), number), template)

    out = []
    for number, line in enumerate(lines, start=1):
        if in_block[number - 1]:
            out.append(fill(line, number))
            continue

        def role(match: re.Match[str], number: int = number) -> str:
            kind, body = match.group(1), match.group(2)
            # Inline code keeps its backticks, so the prose check still sees it as code.
            return f"`{fill(body, number)}`" if kind == "site-code" else value(body.strip(), number)

        filled = FACT_ROLE.sub(role, line)
        for marker in TEMPLATE_MARKER.finditer(filled):
            result.unfilled.append((number, filled[marker.start() : marker.start() + 40].strip()))
        out.append(filled)
    result.text = "".join(out)
    return result
