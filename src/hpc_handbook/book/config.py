"""The extension's configuration values, declared once with their type, default and help."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


@dataclass(frozen=True)
class ConfigValue:
    name: str
    default: Any
    types: tuple[type, ...]
    help: str
    rebuild: str = "env"


CONFIG_VALUES = [
    ConfigValue(
        "handbook_site_profile",
        "",
        (str,),
        "Path of the site profile, relative to the book root. "
        "Empty means $HANDBOOK_SITE, then `site.yml` beside `_config.yml`.",
    ),
    ConfigValue(
        "handbook_reports_dir",
        "_build/reports",
        (str,),
        "Folder with the doc CI's last report, relative to the book root; example pages show its verdict.",
    ),
]


def setup_config(app: Sphinx) -> None:
    for value in CONFIG_VALUES:
        app.add_config_value(value.name, value.default, value.rebuild, types=value.types)
    app.add_directive("handbook-config-reference", ConfigReference)


def declared_config_values() -> list[ConfigValue]:
    """Every configuration value the extension's features declare, in setup order."""
    import importlib

    from hpc_handbook.book import FEATURES

    values: list[ConfigValue] = []
    for module_name, _ in FEATURES:
        module = importlib.import_module(module_name)
        for attribute in dir(module):
            if attribute.endswith("CONFIG_VALUES"):
                values.extend(v for v in getattr(module, attribute) if v not in values)
    return values


class ConfigReference(SphinxDirective):
    """Render the reference table of configuration values from their declarations."""

    def run(self) -> list[nodes.Node]:
        lines = [
            "```{list-table}",
            ":header-rows: 1",
            ":widths: 25 20 55",
            "",
            "* - Setting",
            "  - Default",
            "  - What it does",
        ]
        for value in declared_config_values():
            default = f"`{value.default!r}`" if value.default not in ("", None) else "(empty)"
            lines += [f"* - `{value.name}`", f"  - {default}", f"  - {value.help}"]
        lines.append("```")
        container = nodes.container(classes=["handbook-config-reference"])
        self.state.nested_parse(
            StringList(lines, source="handbook configuration"), self.content_offset, container
        )
        return [container]
