"""The profile the book is built for: found, validated and kept on the Sphinx application.

Pages never copy a site value: they state it as a fact (`site_facts`) or show it in a table
(`profile_tables`), so editing `site.yml` and rebuilding changes every page.
"""

from __future__ import annotations

import os
from pathlib import Path

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


def load_site_profile(app: Sphinx, config: Config) -> None:
    path = profile_path(app)
    try:
        profile = load_profile(path)
    except HandbookInputError as error:
        # The `hpc-handbook book` command validates first and exits 2; this guards direct builds.
        raise ConfigError(error.message) from None
    app.handbook_profile = profile  # type: ignore[attr-defined]
    app.handbook_profile_path = path  # type: ignore[attr-defined]


def setup_site_values(app: Sphinx) -> None:
    app.connect("config-inited", load_site_profile, priority=400)
