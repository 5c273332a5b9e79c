"""`hpc-handbook screenshots` and `ui-check`: the novice pages' pictures of the service, and its drift.

Both walk the reference site's hub in headless Chromium as the profile's novice account
(`reference_site.users`), whose password only root can read; `hpc_handbook.doc_ci.ui.check`
does the walking and comparing. A hub that does not answer, or no browser to drive, is one
message and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hpc_handbook.profile import Profile, load_profile
from hpc_handbook.reference_site.hub import hub_url
from hpc_handbook.reference_site.paths import ReferenceSiteError
from hpc_handbook.reference_site.server_environment import DEFAULT_JUPYTERLAB, HUB_VERSION
from hpc_handbook.reference_site.users import PASSWORDS_FILE, account_by_purpose

if TYPE_CHECKING:
    # Playwright and the hub client load only for the commands that walk the service.
    from hpc_handbook.doc_ci.ui.check import Account
    from hpc_handbook.doc_ci.ui.own_environment import OwnEnvironmentBuild


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    shots = subparsers.add_parser(
        "screenshots", help="record the novice pages' pictures of the hub and JupyterLab, and their names"
    )
    shots.add_argument("--site", help="site profile (default: site.yml)")
    shots.set_defaults(run=screenshots_command)
    check = subparsers.add_parser(
        "ui-check", help="compare the hub's and JupyterLab's views with what the novice pages show"
    )
    check.add_argument("--site", help="site profile (default: site.yml)")
    check.add_argument(
        "--report", default="_build/reports/ui-check.md", help="where the Markdown report goes"
    )
    check.set_defaults(run=ui_check_command)


def novice_account(profile: Profile) -> Account:
    """The novice account, its password and the partition its server runs on."""
    from hpc_handbook.doc_ci.ui.check import Account

    name = account_by_purpose(profile, "novice").name
    try:
        password = json.loads(PASSWORDS_FILE.read_text(encoding="utf-8"))[name]
    except (OSError, ValueError, KeyError) as error:
        raise ReferenceSiteError(
            f"cannot read {name}'s password from {PASSWORDS_FILE} ({type(error).__name__}): "
            "run as root, after `nox -s site -- up`"
        ) from None
    return Account(
        hub_url(profile), name, password, profile.interactive_partition.name, own_environment(profile)
    )


def own_environment(profile: Profile) -> OwnEnvironmentBuild | None:
    """The recipe's environment for the walk: the default environment's JupyterLab, the hub's JupyterHub."""
    from hpc_handbook.doc_ci.ui.own_environment import OwnEnvironmentBuild
    from hpc_handbook.doc_ci.ui.walk import views_config

    own = profile.jupyter.own_environment
    if own is None:
        return None
    setup = views_config()["own_environment"]
    lab = profile.jupyter.default_environment.jupyterlab or DEFAULT_JUPYTERLAB
    return OwnEnvironmentBuild(
        script=own.script,
        folder=setup["folder"],
        packages=(f"jupyterlab=={lab}", f"jupyterhub=={HUB_VERSION}", setup["extension"]),
        extension=setup["extension"].split("==")[0],
    )


def _guarded(action: Callable[[], int], url: str) -> int:
    """Run the action; a hub that does not answer, no browser or a failed view is one message, exit 1."""
    from hpc_handbook.browser import BrowserUnavailable
    from hpc_handbook.doc_ci.ui.check import HubError, OwnEnvironmentError, WalkError

    try:
        return action()
    except HubError as error:
        print(f"error: {error} (is the hub at {url} up? `nox -s site -- up` starts it)", file=sys.stderr)
    except (BrowserUnavailable, WalkError, OwnEnvironmentError, ReferenceSiteError) as error:
        print(f"error: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted: the novice's server was stopped", file=sys.stderr)
        return 130
    return 1


def screenshots_command(args: argparse.Namespace) -> int:
    from hpc_handbook.doc_ci.ui.check import record

    profile = load_profile(args.site)

    def action() -> int:
        for path in record(novice_account(profile)):
            print(f"wrote {path}")
        return 0

    return _guarded(action, hub_url(profile))


def ui_check_command(args: argparse.Namespace) -> int:
    from hpc_handbook.doc_ci.ui.check import check

    profile = load_profile(args.site)
    if profile.hub is None or profile.reference_site is None:
        print("ui-check: the profile names no hub with a novice test account; nothing to check")
        return 0

    def action() -> int:
        differences = check(
            novice_account(profile),
            site=profile.site.short_name,
            docs_url=str(profile.site.docs_url),
            report_path=Path(args.report),
        )
        for difference in differences:
            print(f"DRIFT  {difference.title} ({difference.page}): {difference.group}: {difference.message}")
        print(f"{'UI check failed' if differences else 'UI check passed'}; report: {args.report}")
        return 1 if differences else 0

    return _guarded(action, hub_url(profile))
