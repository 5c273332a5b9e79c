"""Site values from the profile: the profile the book is built for, and its MyST substitutions.

Pages never copy a site value: they read it from the profile, so editing `site.yml`
and rebuilding changes every page. The tables of profile values are in `profile_tables`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError

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
    data.update(_node_values(profile))
    return data


def _node_values(profile: Profile) -> dict[str, Any]:
    """The batch partition's nodes and the partition with GPUs, for the multi-node recipes."""
    batch = profile.batch_partition.node_setup
    with_gpus = next((p for p in profile.partitions if p.limits.gpus_per_node > 0), None)
    return {
        "batch_node_count": batch.count,
        "batch_nodes": batch.names,
        "batch_node_feature": batch.features[0] if batch.features else "(none)",
        # A site without GPUs still renders the GPU recipes, which say they are not verified there.
        "gpu_partition": with_gpus.name if with_gpus else "GPU",
        "gpus_per_node": with_gpus.limits.gpus_per_node if with_gpus else 0,
    }


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


def setup_site_values(app: Sphinx) -> None:
    app.connect("config-inited", load_site_profile, priority=400)
