"""The handbook's Sphinx extension: site values, changelog, status pages, service pages and badges.

Each feature lives in its own module with a `setup_<feature>(app)`; the runner,
probe and profile code never import Sphinx, and this package only reads what they write.
"""

from __future__ import annotations

import importlib
from typing import Any

from sphinx.application import Sphinx

from hpc_handbook import __version__

# (module, setup function) for each feature, in the order they must be set up.
FEATURES = [
    ("hpc_handbook.book.config", "setup_config"),
    ("hpc_handbook.book.state", "setup_state"),
    ("hpc_handbook.book.site_values", "setup_site_values"),
    ("hpc_handbook.book.site_facts", "setup_site_facts"),
    ("hpc_handbook.book.profile_tables", "setup_profile_tables"),
    ("hpc_handbook.book.status_pages", "setup_status_pages"),
    ("hpc_handbook.book.waiting_times_page", "setup_waiting_times"),
    ("hpc_handbook.book.forecast_page", "setup_forecast_page"),
    ("hpc_handbook.book.network_page", "setup_network_page"),
    ("hpc_handbook.book.verification", "setup_verification"),
    ("hpc_handbook.book.launch_link", "setup_launch_link"),
    ("hpc_handbook.book.changelog_pages", "setup_changelog_pages"),
    ("hpc_handbook.book.feeds", "setup_feeds"),
    ("hpc_handbook.book.scope", "setup_scope"),
    ("hpc_handbook.book.limitations", "setup_limitations"),
    ("hpc_handbook.book.scorecard", "setup_scorecard"),
    ("hpc_handbook.book.screenshots", "setup_screenshots"),
    ("hpc_handbook.book.alert_example", "setup_alert_example"),
    ("hpc_handbook.book.theme", "setup_theme"),
    ("hpc_handbook.book.feedback", "setup_feedback"),
    ("hpc_handbook.book.template_cache", "setup_template_cache"),
]


def setup(app: Sphinx) -> dict[str, Any]:
    """Sphinx's entry point: `extra_extensions: [hpc_handbook.book]` in `_config.yml`."""
    for module_name, function_name in FEATURES:
        getattr(importlib.import_module(module_name), function_name)(app)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
