"""`site up` and `site down`: bring the whole reference site to its profile, or stop it."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.accounting import ACCOUNTING_APT_PACKAGES, stop_accounting
from hpc_handbook.reference_site.checks import Check, check_site
from hpc_handbook.reference_site.containers import CONTAINER_APT_PACKAGES, ensure_container_images
from hpc_handbook.reference_site.hub import HUB_APT_PACKAGES, ensure_hub, hub_api_url, stop_hub
from hpc_handbook.reference_site.kernels import ensure_venvs, install_kernels
from hpc_handbook.reference_site.lmod import install_modules
from hpc_handbook.reference_site.paths import (
    KERNELSPEC_DIR,
    MANIFEST,
    PROFILE_D_SCRIPT,
    SITE_LOG_DIR,
    SITE_RUN_DIR,
    SITE_STATE_DIR,
    ReferenceSiteError,
    site_layout,
)
from hpc_handbook.reference_site.proxy import stop_proxy
from hpc_handbook.reference_site.servers import (
    SITE_TOKEN_FILE,
    end_account_processes,
    stop_servers_through_hub,
)
from hpc_handbook.reference_site.slurm import ensure_munge, settle_nodes, start_slurm
from hpc_handbook.reference_site.slurm_jobs import cancel_jobs, slurm_jobs
from hpc_handbook.reference_site.system import (
    Log,
    base_python,
    dedupe,
    ensure_apt_packages,
    find_processes,
    print_log,
    remove,
    stop_processes,
    wait_for,
    write_if_changed,
)
from hpc_handbook.reference_site.users import SECRETS_DIR, ensure_accounts, remove_accounts

BASE_APT_PACKAGES = ("slurm-wlm", "munge", "lmod")
#: What the test suite drives against the site: a real browser, rsync for gitlab-ci-local, and
#: `ip` and `ss` for the network bench's emulated links.
TEST_TOOL_APT_PACKAGES = ("chromium", "rsync", "iproute2")


def apt_packages(profile: Profile) -> list[str]:
    """Debian packages the site needs: Slurm, munge, Lmod, R's kernel where a kernel is R, test tools."""
    packages = [*BASE_APT_PACKAGES, *ACCOUNTING_APT_PACKAGES, *TEST_TOOL_APT_PACKAGES]
    if profile.reference_site is not None:
        packages += HUB_APT_PACKAGES
    if profile.containers:
        packages += CONTAINER_APT_PACKAGES
    for kernel in profile.kernels:
        if kernel.language.lower() == "r":
            # Debian packages CRAN's R packages as r-cran-<lower-case name>; IRkernel is the kernel itself.
            packages += ["r-cran-irkernel", *(f"r-cran-{p.lower()}" for p in kernel.packages)]
    return dedupe(packages)


def load_manifest() -> dict[str, Any]:
    try:
        return json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return {}


def _require_root(action: str) -> None:
    if os.geteuid() != 0:
        raise ReferenceSiteError(
            f"`site {action}` installs packages, starts daemons and removes site files: run it as root"
        )


def remove_previous_site(previous: Mapping[str, Any], profile: Profile, log: Log) -> None:
    """Remove what another profile's site installed, so nothing of it is left beside this one."""
    layout = site_layout(profile)
    for key, current in (("prefix", layout.prefix), ("modulefiles", layout.modulefiles)):
        old = previous.get(key)
        if old and Path(old) != current and Path(old).exists():
            log(f"removing {old} (the site of {previous.get('site', 'another profile')})")
            remove(Path(old))


def up(profile: Profile, *, log: Log = print_log) -> list[Check]:
    """Bring the site to its profile from whatever state it is in; fast when it is already there."""
    _require_root("up")
    started = time.monotonic()
    ensure_apt_packages(apt_packages(profile), log)
    ensure_munge(log)
    previous = load_manifest()
    remove_previous_site(previous, profile, log)
    # The accounts before Slurm: slurmctld finds each project member's uid when it loads the projects.
    site_accounts = ensure_accounts(profile, log, previous)
    start_slurm(profile, log)
    python = base_python()
    ensure_venvs(profile, python, log)
    module_files = install_modules(profile, python, log, previous)
    kernels = install_kernels(profile, python, log, previous)
    images = ensure_container_images(profile, log, previous.get("images", []))
    ensure_hub(profile, python, log)
    layout = site_layout(profile)
    manifest = {
        "site": profile.site.name,
        "prefix": str(layout.prefix),
        "modulefiles": str(layout.modulefiles),
        "kernels": kernels,
        "images": images,
        "module_files": module_files,
        "accounts": site_accounts,
        # `site down` stops every server through the hub's own API (servers.py).
        "hub_api": hub_api_url(profile),
    }
    write_if_changed(MANIFEST, json.dumps(manifest, indent=1) + "\n")
    checks = check_site(profile)
    for _ in range(3):
        failed = [c for c in checks if not c.ok]
        if not failed or any(c.component not in ("node", "partition") for c in failed):
            break
        log(
            "nodes left service while the site came up ("
            + "; ".join(f"{c.name}: {c.detail}" for c in failed)
            + "): taking them back"
        )
        time.sleep(2)
        settle_nodes(profile, log)
        checks = check_site(profile)
    failed = [c for c in checks if not c.ok]
    if failed:
        raise ReferenceSiteError(
            "the site is not fully up:\n" + "\n".join(f"  {c.component} {c.name}: {c.detail}" for c in failed)
        )
    log(f"{profile.site.name} reference site is up ({time.monotonic() - started:.1f} s)")
    return checks


def reset(profile: Profile, *, force: bool = False, log: Log = print_log) -> list[Check]:
    """Start the site anew, as on a new machine: job ids from 1, kernels, modules and state rebuilt.

    Only the Debian packages stay. Without `force` it refuses a site that is not up (there
    is nothing to reset) and one with jobs queued or running (it would cancel them). A
    tear-down that fails part way brings the site up again before it reports the failure.
    """
    _require_root("reset")
    if not force:
        if not find_processes("slurmctld"):
            raise ReferenceSiteError(
                "the site is not up, so there is nothing to reset: start it with `site up`, "
                "or pass --force to clean whatever an earlier site left"
            )
        jobs = slurm_jobs()
        if jobs:
            listed = ", ".join(
                f"{job.job_id} ({job.user or 'unknown user'}, {job.state})" for job in jobs[:5]
            )
            raise ReferenceSiteError(
                f"{len(jobs)} job(s) are queued or running ({listed}); reset would cancel them: "
                "wait until they end, or pass --force"
            )
    try:
        _tear_down(profile, log)
    except (ReferenceSiteError, OSError) as error:
        # Never leave the site half torn down: bring it back as it was, then say what failed.
        log(f"reset could not tear the site down ({error}): bringing it up again")
        up(profile, log=log)
        raise ReferenceSiteError(f"reset did not start the site anew, but it is up again: {error}") from None
    return up(profile, log=log)


def _tear_down(profile: Profile, log: Log) -> None:
    """Stop the site, remove its accounts with their homes, and every file it made."""
    down(log=log)
    previous = load_manifest()
    remove_accounts(previous.get("accounts", []), log)
    for path in (
        *(Path(previous[key]) for key in ("prefix", "modulefiles") if previous.get(key)),
        site_layout(profile).prefix,
        *(KERNELSPEC_DIR / name for name in previous.get("kernels", [])),
        PROFILE_D_SCRIPT,
        SECRETS_DIR,
        SITE_STATE_DIR,
        SITE_LOG_DIR,
        SITE_RUN_DIR,
    ):
        if path.exists() or path.is_symlink():
            log(f"removing {path}")
            remove(path)


def down(*, log: Log = print_log) -> None:
    """Stop every server, cancel every job and stop every site daemon; nothing of the site keeps running."""
    _require_root("down")
    manifest = load_manifest()
    # A hub that stops leaves its servers running (so that it can restart): stop them through it
    # first, then end whatever the site's accounts still run (a hub that did not answer).
    if manifest.get("hub_api") and SITE_TOKEN_FILE.exists():
        token = SITE_TOKEN_FILE.read_text(encoding="utf-8").strip()
        left = stop_servers_through_hub(manifest["hub_api"], token, log)
        if left:
            log(f"the hub did not stop {', '.join(left)}: ending them")
    stop_hub(log)
    if end_account_processes(manifest.get("accounts", [])):
        log("ended the processes the site's accounts still ran")
    if find_processes("slurmctld"):
        try:
            cancelled = cancel_jobs(None, wait_s=30)
        except ReferenceSiteError as error:
            log(f"could not cancel jobs: {error}")
        else:
            if cancelled:
                log(f"cancelled {len(cancelled)} job(s)")
    for daemon in ("slurmd", "slurmstepd", "slurmctld", "munged"):
        if find_processes(daemon):
            log(f"stopping {daemon}")
            stop_processes(daemon)
    # After slurmctld, which sends slurmdbd the records of the jobs it just ended.
    stop_accounting()
    daemons = ("slurmd", "slurmstepd", "slurmctld", "slurmdbd", "mariadbd", "munged")
    # Last, once no server is left to route to.
    stop_proxy(log)
    leftovers = [d for d in daemons if find_processes(d)]
    if leftovers:
        raise ReferenceSiteError(f"still running after down: {', '.join(leftovers)}")
    # The daemons detached from us, so init reaps them; give it a moment so that
    # `pgrep` right after `down` lists nothing.
    with contextlib.suppress(ReferenceSiteError):
        wait_for(
            lambda: not any(find_processes(d, include_zombies=True) for d in daemons),
            timeout_s=5,
            what="init to reap the stopped daemons",
        )
    log("the reference site is down")
