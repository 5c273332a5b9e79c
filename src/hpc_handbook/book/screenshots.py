"""Screenshots of the service at the size their text had on the screen, each opening the whole window.

`hpc-handbook screenshots` records each view of the hub and JupyterLab twice: a region (the
form, the Launcher, the control panel) at two device pixels per CSS pixel, and the whole
window. The `screenshot` directive shows the region at its CSS size, narrower only down to
`MIN_SCALE` of it where the text column is narrower, and beyond that inside a frame that
scrolls sideways, so its text is never much smaller than it was on the screen; selecting
it opens the whole window. Sizes come from the record (`ui-snapshot.json`), never typed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.osutil import relative_uri

from hpc_handbook.book.generated import wording
from hpc_handbook.data.ui_snapshot import UI_SNAPSHOT, Picture, load_ui_snapshot
from hpc_handbook.errors import HandbookInputError

LOGGER = logging.getLogger(__name__)
#: The smallest share of its recorded size a picture is shown at; narrower columns scroll it.
MIN_SCALE = 0.75
#: Where the whole-window pictures go in the HTML output.
FULL_VIEW_DIR = "_images/whole-window"
WEB_BUILDERS = ("html", "dirhtml")


def snapshot_path(app: Sphinx) -> Path:
    return Path(app.confdir) / UI_SNAPSHOT


def pictures(app: Sphinx) -> dict[str, Picture]:
    """The recorded pictures by view; empty (with one warning per page) when there is no record."""
    return load_ui_snapshot(snapshot_path(app)).pictures


def picture_width(picture: Picture) -> str:
    """Its CSS size where the column allows, never below MIN_SCALE of it (the frame scrolls then)."""
    smallest = round(picture.width * MIN_SCALE)
    return f"clamp({smallest}px, 100%, {picture.width}px)"


class ScreenshotDirective(SphinxDirective):
    """Show one view's recorded picture; the argument names the view (`login`, `launcher`, ...)."""

    required_arguments = 1
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {"alt": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        view = self.arguments[0]
        self.env.note_dependency(str(snapshot_path(self.env.app)))
        try:
            picture = pictures(self.env.app).get(view)
        except HandbookInputError as error:
            return [self._warning(error.message)]
        if picture is None:
            return [self._warning(f"{UI_SNAPSHOT} records no picture of the view {view!r}")]
        if "alt" not in self.options:
            return [self._warning(f"the screenshot of {view!r} needs an :alt: text that says what it shows")]
        folder = "/" + UI_SNAPSHOT.parent.as_posix()
        image = nodes.image(
            uri=f"{folder}/{picture.file}",
            alt=self.options["alt"],
            width=picture_width(picture),
            classes=["handbook-screenshot-image"],
        )
        figure = nodes.figure(classes=["handbook-screenshot"], ids=[f"screenshot-{view}"])
        self.set_source_info(figure)
        builder = self.env.app.builder
        if builder.name not in WEB_BUILDERS:
            figure += image
            return [figure]
        full = relative_uri(builder.get_target_uri(self.env.docname), f"{FULL_VIEW_DIR}/{picture.full_view}")
        figure += nodes.reference("", "", image, refuri=full, classes=["handbook-screenshot-link"])
        # A legend, not a caption: a caption would number the figure and link to it.
        more = nodes.paragraph()
        more += nodes.reference("", wording("theme.yml")["screenshot_full_view"], refuri=full)
        figure += nodes.legend("", more, classes=["handbook-screenshot-full-view"])
        return [figure]

    def _warning(self, message: str) -> nodes.Node:
        LOGGER.warning("%s", message, type="handbook", subtype="screenshot", location=self.get_location())
        return nodes.paragraph(text=message)


def copy_full_views(app: Sphinx, exception: Exception | None) -> None:
    """Copy every recorded whole-window picture next to the pages' images."""
    if exception is not None or app.builder.name not in WEB_BUILDERS:
        return
    try:
        recorded = pictures(app)
    except HandbookInputError:
        return  # each page that shows a picture has warned already
    target = Path(app.outdir) / FULL_VIEW_DIR
    target.mkdir(parents=True, exist_ok=True)
    for picture in recorded.values():
        source = snapshot_path(app).parent / picture.full_view
        if source.is_file():
            shutil.copyfile(source, target / picture.full_view)
        else:
            LOGGER.warning(
                "%s: no whole-window picture %s; re-record with `hpc-handbook screenshots`",
                UI_SNAPSHOT,
                picture.full_view,
                type="handbook",
                subtype="screenshot",
            )


def setup_screenshots(app: Sphinx) -> None:
    app.add_directive("screenshot", ScreenshotDirective)
    app.connect("build-finished", copy_full_views)
