"""The extension's configuration values, declared once with their type, default and help."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sphinx.application import Sphinx


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
