"""The changelog page and the landing page's "What's new", both built from `changelog/` fragments.

The fragments are read once per build. Like MyST-NB's execution tables, the directives only
leave a placeholder and note the fragment files as dependencies; a post-transform fills the
placeholder when the page is written, so both pages always show the fragments of this build.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from itertools import groupby
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from markdown_it import MarkdownIt
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.osutil import relative_uri

from hpc_handbook.book.config import book_path
from hpc_handbook.book.generated import as_choice
from hpc_handbook.book.site_values import get_profile
from hpc_handbook.book.state import changelog_page, note_view
from hpc_handbook.changelog.fragments import (
    AUDIENCE_TITLES,
    AUDIENCES,
    TYPE_TITLES,
    Fragment,
    fragment_paths,
    scan_fragments,
)

logger = logging.getLogger(__name__)

#: Builders whose output is published as a web site, with the feeds beside the pages; an epub has none.
WEB_BUILDERS = ("html", "dirhtml")
#: sphinx-design badge colours: one per change type, so a reader spots removals at a glance.
TYPE_COLOURS = {
    "added": "success",
    "changed": "info",
    "deprecated": "warning",
    "removed": "danger",
    "fixed": "primary",
    "security": "danger",
}
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

# HTML escaping is on and raw HTML off: a fragment's text may only carry inline Markdown.
_MARKDOWN = MarkdownIt("commonmark", {"html": False})


def changelog_dir(app: Sphinx) -> Path:
    return book_path(app, "handbook_changelog_dir")


def loaded_fragments(app: Sphinx) -> list[Fragment]:
    """The valid fragments of this build, newest first; each bad one is reported once as a warning."""
    cached: list[Fragment] | None = getattr(app, "handbook_fragments", None)
    if cached is None:
        cached, errors = scan_fragments(changelog_dir(app))
        for error in errors:
            # The path goes in the message: Sphinx would read a location string as a page name.
            where = f" at {error.where}" if error.where else ""
            logger.warning(
                "changelog fragment %s%s: %s; it is left out of the changelog and the feeds",
                _shown_path(app, error.file),
                where,
                error.problem,
                type="handbook",
                subtype="changelog",
            )
        # A change the probe found at another site concerns that site's readers, not this book's.
        site = get_profile(app).site.short_name
        cached = [fragment for fragment in cached if fragment.meta.site in (None, site)]
        app.handbook_fragments = cached  # type: ignore[attr-defined]
    return cached


def _shown_path(app: Sphinx, file: str) -> str:
    path = Path(file)
    try:
        return str(path.relative_to(Path(app.confdir).resolve()))
    except ValueError:
        return str(path)


def human_date(date: dt.date) -> str:
    # Month names from a table, not strftime, so the page does not depend on the build's locale.
    return f"{date.day} {MONTHS[date.month - 1]} {date.year}"


def change_anchor(fragment: Fragment) -> str:
    return fragment.anchor


def inline_markdown(text: str) -> list[nodes.Node]:
    """Turn a fragment's inline Markdown (code, emphasis, links) into docutils nodes."""
    root = nodes.inline()
    stack: list[nodes.Element] = [root]
    for token in _MARKDOWN.parseInline(" ".join(text.split()))[0].children or []:
        if token.type == "text":
            stack[-1] += nodes.Text(token.content)
        elif token.type == "code_inline":
            stack[-1] += nodes.literal(token.content, token.content)
        elif token.type in ("softbreak", "hardbreak"):
            stack[-1] += nodes.Text(" ")
        elif token.type in ("em_open", "strong_open", "link_open"):
            if token.type == "em_open":
                element: nodes.Element = nodes.emphasis()
            elif token.type == "strong_open":
                element = nodes.strong()
            else:
                element = nodes.reference(refuri=str(token.attrGet("href") or ""))
            stack[-1] += element
            stack.append(element)
        elif token.type in ("em_close", "strong_close", "link_close"):
            stack.pop()
        elif token.type == "image":
            stack[-1] += nodes.Text(token.content)
        else:
            stack[-1] += nodes.Text(token.content)
    return list(root.children)


def badge(text: str, colour: str, *, outline: bool = False) -> nodes.inline:
    """A sphinx-design badge, built directly because post-transforms cannot run roles."""
    colour_classes = (
        [f"sd-outline-{colour}", f"sd-text-{colour}"]
        if outline
        else [f"sd-bg-{colour}", f"sd-bg-text-{colour}"]
    )
    return nodes.inline(text, text, classes=["sd-badge", *colour_classes])


def entry_meta(fragment: Fragment) -> list[nodes.Node]:
    """Date, type, component and audiences of one change, as a reader scans them."""
    meta: list[nodes.Node] = [
        nodes.strong(text=human_date(fragment.meta.date)),
        nodes.Text(" "),
        badge(TYPE_TITLES[fragment.meta.type], TYPE_COLOURS[fragment.meta.type]),
        nodes.Text(" "),
        badge(fragment.meta.component, "secondary", outline=True),
        nodes.Text(" For: "),
    ]
    for index, audience in enumerate(fragment.meta.audiences):
        if index:
            meta.append(nodes.Text(" "))
        meta.append(badge(AUDIENCE_TITLES[audience], "primary", outline=True))
    return meta


class changelog_placeholder(nodes.General, nodes.Element):  # docutils names node classes in lower case
    """Where a changelog view goes; `kind` is "changelog" or "whats-new"."""


def _skip_placeholder(translator: Any, node: nodes.Element) -> None:
    # Only reached if a builder skips post-transforms; the placeholder then renders as nothing.
    raise nodes.SkipNode


class _ChangelogDirective(SphinxDirective):
    kind: ClassVar[str]

    def placeholder(self) -> changelog_placeholder:
        directory = changelog_dir(self.env.app)
        # A fragment's edit re-reads this page. The folder itself is not noted: Sphinx treats a
        # dependency that is not a file as always changed. The view noted here covers added
        # and removed files instead (`HandbookCollector.get_outdated_docs`).
        for path in fragment_paths(directory):
            self.env.note_dependency(str(path))
        note_view(self.env, self.kind)
        node = changelog_placeholder(kind=self.kind)
        self.set_source_info(node)
        return node


class ChangelogDirective(_ChangelogDirective):
    """Show every change, newest first, grouped by month, with an audience filter and the feeds."""

    kind = "changelog"
    has_content = False

    def run(self) -> list[nodes.Node]:
        return [self.placeholder()]


def audience_list(argument: str | None) -> list[str]:
    """An option_spec converter: audiences separated by spaces or commas, each one of AUDIENCES."""
    names = (argument or "").replace(",", " ").split()
    if not names:
        raise ValueError(f"name one or more of {', '.join(AUDIENCES)}")
    return [as_choice(AUDIENCES)(name) for name in names]


class WhatsNewDirective(_ChangelogDirective):
    """Show the latest changes, linking each to its entry on the changelog page."""

    kind = "whats-new"
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {
        "count": directives.positive_int,
        # One or more audiences, separated by spaces or commas: the changes for any of them.
        "audience": audience_list,
    }

    def run(self) -> list[nodes.Node]:
        node = self.placeholder()
        node["count"] = self.options.get("count", self.config.handbook_whats_new_count)
        node["audiences"] = self.options.get("audience", [])
        return [node]


def feed_path(audience: str | None) -> str:
    """A feed's path in the HTML output; `None` is the feed of every change."""
    return f"feeds/{audience or 'all'}.atom.xml"


class FillChangelogPlaceholders(SphinxPostTransform):
    # Before Sphinx resolves references (priority 10), so the nodes added here are final.
    default_priority = 5

    def run(self, **kwargs: Any) -> None:
        placeholders = list(self.document.findall(changelog_placeholder))
        if not placeholders:
            return
        fragments = loaded_fragments(self.app)
        for placeholder in placeholders:
            if placeholder["kind"] == "changelog":
                placeholder.replace_self(self.full_changelog(fragments))
            else:
                audiences = placeholder["audiences"]
                selected = [f for f in fragments if not audiences or set(audiences) & set(f.meta.audiences)]
                placeholder.replace_self(self.whats_new(selected[: placeholder["count"]], audiences))

    @property
    def is_web_build(self) -> bool:
        return self.app.builder.name in WEB_BUILDERS

    def uri_to(self, path: str) -> str:
        """A link from this page to a file of the HTML output, relative so the site can move."""
        return relative_uri(self.app.builder.get_target_uri(self.env.docname), path)

    def feed_links(self) -> nodes.paragraph:
        paragraph = nodes.paragraph(classes=["handbook-changelog-feeds"])
        paragraph += nodes.Text("Follow these changes in a feed reader: ")
        for index, audience in enumerate((None, *AUDIENCES)):
            if index:
                paragraph += nodes.Text(", ")
            title = "every change" if audience is None else f"changes for {AUDIENCE_TITLES[audience].lower()}"
            paragraph += nodes.reference(title, title, refuri=self.uri_to(feed_path(audience)))
        paragraph += nodes.Text(" (Atom).")
        return paragraph

    def audience_filter(self) -> nodes.raw:
        # Radio buttons and CSS (:has) narrow the list, so it works on a static page without
        # JavaScript; a browser without :has shows every entry, each with its audience badges.
        choices = [("all", "Everyone"), *((audience, AUDIENCE_TITLES[audience]) for audience in AUDIENCES)]
        html = ['<fieldset class="handbook-audience-filter">', "<legend>Show changes for</legend>"]
        for value, title in choices:
            checked = " checked" if value == "all" else ""
            html.append(
                f'<input type="radio" name="handbook-audience" id="handbook-audience-{value}" '
                f'value="{value}"{checked}><label for="handbook-audience-{value}">{title}</label>'
            )
        html.append("</fieldset>")
        return nodes.raw("", "\n".join(html), format="html")

    def entry(self, fragment: Fragment) -> nodes.container:
        classes = ["handbook-changelog-entry", *(f"handbook-for-{a}" for a in fragment.meta.audiences)]
        container = nodes.container(classes=classes, ids=[change_anchor(fragment)])
        container += nodes.paragraph("", "", *entry_meta(fragment), classes=["handbook-changelog-meta"])
        container += nodes.paragraph("", "", *inline_markdown(fragment.shown_text))
        return container

    def full_changelog(self, fragments: list[Fragment]) -> list[nodes.Node]:
        if not fragments:
            return [nodes.paragraph(text="No changes have been recorded yet.")]
        root = nodes.container(classes=["handbook-changelog"])
        if self.is_web_build:
            root += self.feed_links()
            root += self.audience_filter()
        for (year, month), group in groupby(fragments, key=lambda f: (f.meta.date.year, f.meta.date.month)):
            section = nodes.section(
                ids=[f"changelog-{year}-{month:02d}"], classes=["handbook-changelog-month"]
            )
            section += nodes.title(text=f"{MONTHS[month - 1]} {year}")
            section.extend(self.entry(fragment) for fragment in group)
            root += section
        return [root]

    def whats_new(self, fragments: Iterable[Fragment], audiences: list[str]) -> list[nodes.Node]:
        page = changelog_page(self.env)
        items = nodes.bullet_list(classes=["handbook-whats-new"])
        for fragment in fragments:
            text = nodes.paragraph("", "", *inline_markdown(fragment.shown_text))
            if page is not None:
                uri = (
                    self.app.builder.get_relative_uri(self.env.docname, page) + "#" + change_anchor(fragment)
                )
                text += nodes.Text(" ")
                text += nodes.reference("", "Details", refuri=uri, classes=["handbook-whats-new-details"])
            meta = nodes.paragraph("", "", *entry_meta(fragment), classes=["handbook-changelog-meta"])
            items += nodes.list_item("", meta, text)
        if not items.children:
            return [nodes.paragraph(text="No changes have been recorded yet.")]
        result: list[nodes.Node] = [items]
        if page is not None:
            more = nodes.paragraph()
            more += nodes.Text("Every change, and a filter by audience, is in the ")
            changelog_uri = self.app.builder.get_relative_uri(self.env.docname, page)
            more += nodes.reference("", "changelog", refuri=changelog_uri)
            if self.is_web_build:
                # One audience has a feed of its own; several follow every change.
                audience = audiences[0] if len(audiences) == 1 else None
                more += nodes.Text("; follow it in a feed reader with the ")
                more += nodes.reference("", "Atom feed", refuri=self.uri_to(feed_path(audience)))
            more += nodes.Text(".")
            result.append(more)
        return result


def add_static_files(app: Sphinx) -> None:
    loaded_fragments(app)  # reports bad fragments once, at the start of the build
    if app.builder.format == "html":
        app.config.html_static_path.append(str(Path(__file__).parent / "static"))
        app.add_css_file("handbook.css")


def setup_changelog_pages(app: Sphinx) -> None:
    skip = (_skip_placeholder, None)
    app.add_node(changelog_placeholder, html=skip, latex=skip, text=skip, man=skip, texinfo=skip)
    app.add_directive("changelog", ChangelogDirective)
    app.add_directive("whats-new", WhatsNewDirective)
    app.add_post_transform(FillChangelogPlaceholders)
    app.connect("builder-inited", add_static_files)
