"""The extension's configuration values, each declared once with its type, default and help.

`setup_config` registers them all, and the `handbook-config-reference` directive renders the
admins' reference table from the same declarations, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from hpc_handbook.book.generated import list_table, parse_markdown


@dataclass(frozen=True, kw_only=True)
class ConfigValue:
    name: str
    default: Any
    types: tuple[type, ...]
    help: str
    #: What a change rebuilds: "env" re-reads every page, as each value changes what pages show.
    rebuild: Literal["env", "html", ""] = "env"


CONFIG_VALUES = (
    ConfigValue(
        name="handbook_site_profile",
        default="",
        types=(str,),
        help="Path of the site profile, relative to the book root. "
        "Empty means $HANDBOOK_SITE, then `site.yml` beside `_config.yml`.",
    ),
    ConfigValue(
        name="handbook_reports_dir",
        default="_build/reports",
        types=(str,),
        help="Folder with the doc CI's last report, relative to the book root; "
        "example pages show its verdict.",
    ),
    ConfigValue(
        name="handbook_snapshot",
        default="book/data/snapshot.json",
        types=(str,),
        help="The probe's snapshot of the site, relative to the book root; the system status page shows it.",
    ),
    ConfigValue(
        name="handbook_waiting_times",
        default="book/data/waiting-times.json",
        types=(str,),
        help="Queue waiting-time statistics, relative to the book root; the waiting-times page shows them.",
    ),
    ConfigValue(
        name="handbook_service_measurements",
        default="book/data/service-measurements.json",
        types=(str,),
        help="The hub's spawn times and load run from `nox -s bench`, relative to the book root; "
        "the scorecard's access criteria read them.",
    ),
    ConfigValue(
        name="handbook_forecast_accuracy",
        default="book/data/forecast-accuracy.json",
        types=(str,),
        help="The spawn form's start forecast against real starts, from `nox -s bench`, relative to the "
        "book root; the planning pages and the scorecard read it.",
    ),
    ConfigValue(
        name="handbook_changelog_dir",
        default="changelog",
        types=(str,),
        help="Folder of changelog fragments, relative to the book root; "
        "the changelog page and the feeds are built from it.",
    ),
    ConfigValue(
        name="handbook_whats_new_count",
        default=5,
        types=(int,),
        help="How many of the latest changes the `whats-new` directive shows when it has no `:count:`.",
    ),
)


def book_path(app: Sphinx, name: str) -> Path:
    """The file or folder that a path setting names, resolved against the book root."""
    return (Path(app.confdir) / getattr(app.config, name)).resolve()


class ConfigReference(SphinxDirective):
    """Render the reference table of configuration values from their declarations."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        rows = [
            [
                f"`{value.name}`",
                f"`{value.default!r}`" if value.default not in ("", None) else "(empty)",
                value.help,
            ]
            for value in CONFIG_VALUES
        ]
        lines = list_table(["Setting", "Default", "What it does"], rows, widths="25 20 55")
        container = nodes.container(classes=["handbook-config-reference"])
        parse_markdown(self, lines, container, source="handbook configuration")
        return [container]


def setup_config(app: Sphinx) -> None:
    for value in CONFIG_VALUES:
        app.add_config_value(value.name, value.default, value.rebuild, types=value.types)
    app.add_directive("handbook-config-reference", ConfigReference)
