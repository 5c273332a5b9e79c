"""Site values from the profile: MyST substitutions and directives that render profile tables.

Pages never copy a site value: they read it from the profile, so editing `site.yml`
and rebuilding changes every page.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError
from sphinx.util.docutils import SphinxDirective

from hpc_handbook.errors import HandbookInputError
from hpc_handbook.profile import DEFAULT_PROFILE, PROFILE_ENV_VAR, Profile, load_profile


def profile_path(app: Sphinx) -> Path:
    """Resolve the profile the book is built for: config value, then $HANDBOOK_SITE, then site.yml."""
    configured = app.config.handbook_site_profile or os.environ.get(PROFILE_ENV_VAR) or str(DEFAULT_PROFILE)
    return (Path(app.confdir) / configured).resolve()


def get_profile(app: Sphinx) -> Profile:
    return app.handbook_profile  # type: ignore[attr-defined]


def substitutions(profile: Profile) -> dict[str, Any]:
    """The values pages can use as `{{ name }}`: the whole profile plus a few derived roles."""
    data = profile.model_dump(mode="json")
    interactive, batch = profile.interactive_partition, profile.batch_partition
    data.update(
        interactive_partition=interactive.name,
        batch_partition=batch.name,
        batch_max_walltime=batch.limits.max_walltime,
        interactive_max_walltime=interactive.limits.max_walltime,
        no_jupyter_partitions=", ".join(p.name for p in profile.partitions if not p.jupyter) or "none",
        module_path=profile.modules.paths[0],
        kernel_names=", ".join(k.name for k in profile.kernels),
        # Autolinks: MyST parses `<{{ x }}>` before it substitutes, so the brackets must come with the value.
        hub_link=f"<{profile.site.hub_url}>",
        docs_link=f"<{profile.site.docs_url}>",
        repository_link=f"<{profile.site.repository_url}>",
        support_email_link=f"<{profile.support.email}>",
        issue_tracker_link=f"<{profile.support.issue_tracker}>",
    )
    for filesystem in profile.filesystems:
        data[f"fs_{filesystem.name}"] = filesystem.path
    return data


def load_site_profile(app: Sphinx, config: Config) -> None:
    path = profile_path(app)
    try:
        profile = load_profile(path)
    except HandbookInputError as error:
        # The `hpc-handbook book` command validates first and exits 2; this guards direct builds.
        raise ConfigError(error.message) from None
    app.handbook_profile = profile  # type: ignore[attr-defined]
    app.handbook_profile_path = path  # type: ignore[attr-defined]
    config.myst_substitutions = {**substitutions(profile), **(config.myst_substitutions or {})}


class ProfileTableDirective(SphinxDirective):
    """Base for directives that render a table of profile values."""

    has_content = False

    def rows(self, profile: Profile) -> tuple[list[str], list[list[str]]]:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(self.env.app.handbook_profile_path))
        header, rows = self.rows(get_profile(self.env.app))
        lines = ["```{list-table}", ":header-rows: 1", ""]
        for row in [header, *rows]:
            lines.append(f"* - {row[0]}")
            lines.extend(f"  - {cell}" for cell in row[1:])
        lines.append("```")
        container = nodes.container(classes=["handbook-profile-table"])
        self.state.nested_parse(StringList(lines, source="site profile"), self.content_offset, container)
        return [container]


class PartitionsTable(ProfileTableDirective):
    def rows(self, profile: Profile) -> tuple[list[str], list[list[str]]]:
        header = [
            "Partition",
            "System",
            "Purpose",
            "Jupyter",
            "Max nodes",
            "Max walltime",
            "GPUs/node",
            "Memory/node",
        ]
        rows = [
            [
                f"`{partition.name}`",
                system.name,
                partition.purpose,
                "yes" if partition.jupyter else "**no**",
                str(partition.limits.max_nodes),
                partition.limits.max_walltime,
                str(partition.limits.gpus_per_node),
                f"{partition.limits.memory_per_node_gb} GB",
            ]
            for system in profile.systems
            for partition in system.partitions
        ]
        return header, rows


class KernelsTable(ProfileTableDirective):
    def rows(self, profile: Profile) -> tuple[list[str], list[list[str]]]:
        how = {"local": "on the login node", "modules": "from modules", "slurm": "in a Slurm job"}
        rows = []
        for kernel in profile.kernels:
            start = how[kernel.start]
            if kernel.start == "modules":
                start += ": " + ", ".join(f"`{m}`" for m in kernel.modules)
            if kernel.start == "slurm":
                start += f" on `{kernel.partition}`"
            rows.append([f"`{kernel.name}`", kernel.display_name, kernel.language, start, kernel.purpose])
        return ["Kernel", "Shown as", "Language", "Runs", "Use it for"], rows


class FilesystemsTable(ProfileTableDirective):
    def rows(self, profile: Profile) -> tuple[list[str], list[list[str]]]:
        rows = [[fs.name, f"`{fs.path}`", fs.purpose, fs.quota] for fs in profile.filesystems]
        return ["Filesystem", "Path", "Purpose", "Quota"], rows


class ModulesTable(ProfileTableDirective):
    def rows(self, profile: Profile) -> tuple[list[str], list[list[str]]]:
        users: dict[str, list[str]] = {m: [] for m in profile.modules.relied_on}
        for kernel in profile.kernels:
            for module in kernel.modules:
                users.setdefault(module, []).append(f"`{kernel.name}` kernel")
        rows = [[f"`{m}`", ", ".join(u) or "the recipes"] for m, u in users.items()]
        return ["Module", "Used by"], rows


def setup_site_values(app: Sphinx) -> None:
    app.connect("config-inited", load_site_profile, priority=400)
    app.add_directive("site-partitions", PartitionsTable)
    app.add_directive("site-kernels", KernelsTable)
    app.add_directive("site-filesystems", FilesystemsTable)
    app.add_directive("site-modules", ModulesTable)
