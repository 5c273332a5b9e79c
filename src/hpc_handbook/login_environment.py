"""The environment kernels start in: the site's login environment for a new user.

A kernel that a user starts from the hub sees what the site's login shell sets up
(`/etc/profile` and `/etc/profile.d`, so Lmod and the module path) and the user's own
home. It never sees how the doc CI or the probe was installed: their virtual
environment, this machine's own shell start-up files (a pyenv set up in root's
`.bashrc`, say) or whatever the caller exported. The doc CI and the probe start every
kernel in this environment, so both see what a user sees, and nothing of the machine
they run on reaches an example's output.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

#: Debian's PATH for a login shell before /etc/profile adds to it.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Variables of the login shell itself, not of the environment it hands on.
SHELL_ONLY = frozenset({"_", "PWD", "OLDPWD", "SHLVL"})
SKELETON = Path("/etc/skel")


class LoginShellError(RuntimeError):
    """The site's login shell cannot set up an environment; the message says why."""


def new_home(path: Path) -> Path:
    """A home folder as a new account gets it: a copy of /etc/skel, private to its owner."""
    if SKELETON.is_dir():
        shutil.copytree(SKELETON, path, symlinks=True, dirs_exist_ok=True)
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def login_environment(home: Path) -> dict[str, str]:
    """What the site's login shell sets up for this account with `home` as its home folder."""
    user = pwd.getpwuid(os.getuid()).pw_name
    clean = {
        "HOME": str(home),
        "USER": user,
        "LOGNAME": user,
        "SHELL": "/bin/bash",
        "PATH": SYSTEM_PATH,
        "LANG": os.environ.get("LANG") or "C.UTF-8",
    }
    try:
        shell = subprocess.run(
            ["bash", "--login", "-c", "env -0"],
            env=clean,
            cwd=home,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LoginShellError(f"the site's login shell did not start: {error}") from None
    if shell.returncode != 0:
        reason = shell.stderr.decode(errors="replace").strip()[-500:]
        raise LoginShellError(f"the site's login shell failed (exit {shell.returncode}): {reason}")
    pairs = (item.split("=", 1) for item in shell.stdout.decode(errors="replace").split("\0") if "=" in item)
    # Exported shell functions (BASH_FUNC_*) are the shell's, as a server's kernels never get them.
    return {key: value for key, value in pairs if key not in SHELL_ONLY and not key.startswith("BASH_FUNC_")}
