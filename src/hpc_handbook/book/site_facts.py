"""Site facts in pages: the `{site}`, `{site-code}` and `{site-link}` roles and `site-code-block`.

    The {site}`batch_partition` partition runs jobs for up to {site}`partition role:batch max_walltime`.
    Submit with {site-code}`sbatch --partition={{ batch_partition }} job.sh`.

    ```{site-code-block} bash
    #SBATCH --partition={{ partition role:gpu }}
    ```

Each renders a fact of the site vocabulary (`hpc_handbook.site_facts`), in prose, inline code
and code blocks alike, in Markdown pages and notebooks' Markdown cells. A key that names
nothing this site has is a `handbook.fact` warning at the page and line, so a `--strict`
build fails on it; a fact of a kind the site lacks (a GPU partition at a site without one)
renders as a note saying so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole

from hpc_handbook.book.config import book_path
from hpc_handbook.book.site_values import get_profile
from hpc_handbook.book.state import handbook_state
from hpc_handbook.data.snapshot import Snapshot, load_snapshot
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.site_facts import FactAbsent, UnknownFact, Vocabulary, build_vocabulary, look_up
from hpc_handbook.site_facts.vocabulary import example_audiences

logger = logging.getLogger(__name__)

#: A fact inside code: `{{ key }}`.
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
#: The attribute of the app that caches the vocabulary for one build.
_CACHE = "handbook_vocabulary"


def _snapshot(app: Sphinx) -> Snapshot | None:
    try:
        return load_snapshot(book_path(app, "handbook_snapshot"))
    except HandbookInputError as error:
        logger.warning(
            "%s; site facts fall back to the profile", error.message, type="handbook", subtype="fact"
        )
        return None


def vocabulary_of(env: BuildEnvironment) -> Vocabulary:
    """This build's vocabulary; reading a fact makes the page depend on the profile and the snapshot."""
    app = env.app
    env.note_dependency(str(app.handbook_profile_path))  # type: ignore[attr-defined]
    snapshot_path = book_path(app, "handbook_snapshot")
    if snapshot_path.is_file():
        env.note_dependency(str(snapshot_path))
    cached = getattr(app, _CACHE, None)
    if cached is None:
        examples = Path(app.confdir) / "examples"
        cached = build_vocabulary(get_profile(app), _snapshot(app), example_audiences(examples))
        setattr(app, _CACHE, cached)
    return cached


def render_fact(env: BuildEnvironment, key: str, location: Any) -> tuple[str, str | None]:
    """The fact's text, and a note when the site lacks it; an unknown key is warned about at `location`."""
    try:
        return look_up(vocabulary_of(env), key).value, None
    except FactAbsent as absent:
        return f"({absent})", str(absent)
    except UnknownFact as unknown:
        record_unknown_fact(env, key, str(unknown), location)
        return f"[{key}]", str(unknown)


def record_unknown_fact(env: BuildEnvironment, key: str, reason: str, location: Any) -> None:
    handbook_state(env).fact_errors.setdefault(env.docname, set()).add(f"{key}: {reason}")
    logger.warning("site fact %r: %s", key, reason, location=location, type="handbook", subtype="fact")


def fill_placeholders(env: BuildEnvironment, template: str, location: Any) -> str:
    """Replace each `{{ key }}` with its fact; an unknown key is warned about."""
    return PLACEHOLDER.sub(lambda match: render_fact(env, match.group(1), location)[0], template)


class SiteFactRole(SphinxRole):
    """`{site}`key``: the fact as text; a fact the site lacks as an emphasised note."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        text, note = render_fact(self.env, self.text, self.get_location())
        node: nodes.Node = nodes.emphasis(text, text) if note else nodes.inline(text, text)
        return [node], []


class SiteCodeRole(SphinxRole):
    """`{site-code}`... {{ key }} ...``: inline code with facts filled in."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        text = fill_placeholders(self.env, self.text, self.get_location())
        return [nodes.literal(text, text)], []


class SiteLinkRole(SphinxRole):
    """`{site-link}`key``: a link to the address or mailbox a fact holds (`site hub_url`, `support email`)."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        text, note = render_fact(self.env, self.text, self.get_location())
        if note:
            return [nodes.emphasis(text, text)], []
        target = text if "://" in text else f"mailto:{text}"
        return [nodes.reference(text, text, refuri=target)], []


class SiteCodeBlock(SphinxDirective):
    """A code block whose `{{ key }}` placeholders are filled with facts: `site-code-block LANGUAGE`."""

    has_content = True
    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        text = fill_placeholders(self.env, "\n".join(self.content), self.get_location())
        block = nodes.literal_block(text, text)
        block["language"] = self.arguments[0] if self.arguments else "text"
        self.set_source_info(block)
        return [block]


def report_fact_errors(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn again about unknown facts of pages this build did not re-read, so a strict build fails."""
    for docname, errors in sorted(handbook_state(env).fact_errors.items()):
        if docname in getattr(app, "handbook_reread", set()):
            continue
        for error in sorted(errors):
            logger.warning("site fact %s", error, location=docname, type="handbook", subtype="fact")


def _note_reread(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> list[str]:
    app.handbook_reread = set(docnames)  # type: ignore[attr-defined]
    return []


def setup_site_facts(app: Sphinx) -> None:
    app.add_role("site", SiteFactRole())
    app.add_role("site-code", SiteCodeRole())
    app.add_role("site-link", SiteLinkRole())
    app.add_directive("site-code-block", SiteCodeBlock)
    app.connect("env-before-read-docs", _note_reread)
    app.connect("env-check-consistency", report_fact_errors)
