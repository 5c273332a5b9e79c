"""The reference site's test accounts: real Unix users with the folders `filesystems:` describes.

Accounts are created with a GECOS comment of their own, so `site up` never takes over or
removes an account it did not make. Passwords are generated once into a root-only file.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hpc_handbook.processes import terminate
from hpc_handbook.profile import Profile, SiteAccount
from hpc_handbook.reference_site.containers import ROOTLESS_STORAGE
from hpc_handbook.reference_site.paths import ReferenceSiteError
from hpc_handbook.reference_site.system import Log, remove, run, write_if_changed

#: Root-only: the accounts' passwords and the hub's secrets.
SECRETS_DIR = Path("/etc/hpc-handbook-site")
PASSWORDS_FILE = SECRETS_DIR / "passwords.json"
ACCOUNT_COMMENT = "hpc-handbook reference site test account"


def accounts(profile: Profile) -> list[SiteAccount]:
    return profile.reference_site.accounts if profile.reference_site else []


def account_by_purpose(profile: Profile, purpose: str) -> SiteAccount:
    found = next((a for a in accounts(profile) if a.purpose == purpose), None)
    if found is None:
        raise ReferenceSiteError(f"the profile has no reference_site.users account with purpose {purpose!r}")
    return found


def _expand(pattern: str, account: SiteAccount) -> Path:
    return Path(pattern.replace("$USER", account.name).replace("$PROJECT", account.project))


def account_folders(profile: Profile, account: SiteAccount) -> dict[str, Path]:
    """Each filesystem's folder for this account: home, project, scratch and any the site adds."""
    return {f.name: _expand(f.path, account) for f in profile.filesystems}


def _existing(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _ensure_group(name: str) -> None:
    if run(["getent", "group", name], check=False).returncode != 0:
        run(["groupadd", name])


def ensure_account(profile: Profile, account: SiteAccount, log: Log) -> None:
    """The account, its groups and its folders, each private to its owner (the project to its group)."""
    folders = account_folders(profile, account)
    home = folders["home"]
    _ensure_group(account.project)
    entry = _existing(account.name)
    if entry is not None and entry.pw_gecos != ACCOUNT_COMMENT:
        raise ReferenceSiteError(
            f"account {account.name!r} (reference_site.users) already exists and is not one the site "
            "created; choose another name"
        )
    if entry is None:
        log(f"creating account {account.name} (project {account.project})")
        home.parent.mkdir(parents=True, exist_ok=True)
        # --create-home copies /etc/skel: the account starts as any new user of the site.
        run(
            ["useradd", "--create-home", "--home-dir", home, "--shell", "/bin/bash", "--user-group",
             "--groups", account.project, "--comment", ACCOUNT_COMMENT, account.name]
        )  # fmt: skip
    else:
        run(["usermod", "--groups", account.project, account.name])
    user = pwd.getpwnam(account.name)
    for name, folder in folders.items():
        shared = "$PROJECT" in next(f.path for f in profile.filesystems if f.name == name)
        folder.mkdir(parents=True, exist_ok=True)
        if shared:
            # A project folder belongs to the project: its members share it, nobody else reads it.
            run(["chown", f"root:{account.project}", folder])
            folder.chmod(0o2770)
        else:
            run(["chown", f"{user.pw_uid}:{user.pw_gid}", folder])
            folder.chmod(0o700)


def passwords(profile: Profile) -> dict[str, str]:
    """Each account's password, generated once; the file is root's alone."""
    try:
        known: dict[str, str] = json.loads(PASSWORDS_FILE.read_text())
    except (OSError, ValueError):
        known = {}
    wanted = {a.name: known.get(a.name) or secrets.token_urlsafe(18) for a in accounts(profile)}
    SECRETS_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    SECRETS_DIR.chmod(0o700)
    write_if_changed(PASSWORDS_FILE, json.dumps(wanted, indent=1) + "\n", mode=0o600)
    return wanted


def ensure_accounts(profile: Profile, log: Log, previous: Mapping[str, Any]) -> list[str]:
    """Every account of the profile, with its password set; removes the site's accounts it dropped."""
    names = [a.name for a in accounts(profile)]
    remove_accounts([n for n in previous.get("accounts", []) if n not in names], log)
    for account in accounts(profile):
        ensure_account(profile, account, log)
    if names:
        lines = "".join(f"{name}:{password}\n" for name, password in passwords(profile).items())
        run(["chpasswd"], input=lines)
    return names


def remove_home(home: Path, log: Log) -> None:
    """Remove a home and all in it, saying how large it was and how long that took.

    `userdel --remove` gave up on a home of 3 GB of virtual environments after its time
    limit, leaving the site half torn down; this takes the time it needs, and says so.
    """
    started = time.monotonic()
    size = 0
    for folder, folders, names in os.walk(home):
        for name in [*folders, *names]:
            try:
                size += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                continue  # gone while counting
    remove(home)
    held = f"{size / 1000**3:.1f} GB" if size >= 100 * 1000**2 else f"{size / 1000**2:.0f} MB"
    log(f"removed {home} ({held}) in {time.monotonic() - started:.1f} s")


def remove_accounts(names: Sequence[str], log: Log) -> None:
    """Remove accounts the site created, with their homes and running processes."""
    for name in names:
        entry = _existing(name)
        if entry is None or entry.pw_gecos != ACCOUNT_COMMENT:
            continue
        log(f"removing account {name}")
        owned = run(["pgrep", "-u", name], check=False).stdout.split()
        terminate([int(pid) for pid in owned], grace=5)
        home = Path(entry.pw_dir)
        if home.is_dir() and not home.is_symlink():
            remove_home(home, log)
        # What the account's own podman kept outside the home (see reference_site.containers).
        containers = Path(ROOTLESS_STORAGE.replace("$USER", name)).parent
        if containers.is_dir() and not containers.is_symlink():
            remove(containers)
        # The home is gone already: userdel has only the account and its mail spool left to remove.
        _userdel(name)
        Path("/var/mail", name).unlink(missing_ok=True)


def _userdel(name: str, *, attempts: int = 10) -> None:
    """Remove the account; userdel refuses while a process that just ended still holds its uid."""
    for _ in range(attempts - 1):
        if run(["userdel", name], check=False).returncode == 0:
            return
        time.sleep(1)
    run(["userdel", name])  # the last try says why it failed
