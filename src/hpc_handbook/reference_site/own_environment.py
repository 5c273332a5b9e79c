"""A server from the user's own start-up script: what the hub checks before anything is queued.

The script lives in the user's home and ends by starting the single-user server from an
environment the user installed (`exec jupyterhub-singleuser "$@"`). Before a server is queued
the hub checks that it exists, is the user's own, cannot be changed by others and may be run,
then runs it once as the user with `--version`: the single-user server it starts must be the
hub's major version. Each refusal names the script and what to change.

This module uses the standard library alone: `site up` copies it next to the hub's
configuration, where the hub imports it, and the tests import it from the package.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import signal
import stat
import subprocess
from pathlib import Path

#: What the hub says, in a data file beside this module (the hub has a copy in its configuration folder).
MESSAGES: dict[str, str] = json.loads(
    Path(__file__).with_name("hub_messages.json").read_text(encoding="utf-8")
)
#: How long the script may take to say its server's version.
VERSION_TIMEOUT_S = 30
_VERSION = re.compile(r"^(\d+)\.(\d+)(\.\d+)?\S*$")


class StartScriptError(ValueError):
    """The user's start-up script cannot start a server here; the message says why and what to do."""


def script_problem(path: str, shown: str, uid: int) -> str | None:
    """Why the script at `path` (`shown` as the user sees it) may not run as `uid`; None when it may."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return MESSAGES["script_missing"].format(shown=shown)
    except OSError as error:
        return MESSAGES["script_unreadable"].format(shown=shown, reason=error.strerror)
    if not stat.S_ISREG(status.st_mode):
        return MESSAGES["script_not_a_file"].format(shown=shown)
    if status.st_uid != uid:
        try:
            owner = pwd.getpwuid(status.st_uid).pw_name
        except KeyError:
            owner = str(status.st_uid)
        return MESSAGES["script_foreign"].format(shown=shown, owner=owner)
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return MESSAGES["script_writable"].format(shown=shown)
    if not status.st_mode & stat.S_IXUSR:
        return MESSAGES["script_not_executable"].format(shown=shown)
    return None


def version_problem(returncode: int | None, output: str, shown: str, hub_version: str) -> str | None:
    """Why `SCRIPT --version`'s answer shows a server that cannot talk to this hub; None when it can."""
    major = hub_version.split(".")[0]
    if returncode is None:
        return MESSAGES["version_timeout"].format(shown=shown, seconds=VERSION_TIMEOUT_S)
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    match = _VERSION.match(last)
    wanted = MESSAGES["version_wanted"].format(major=major, next_major=int(major) + 1)
    if returncode != 0 or match is None:
        said = (
            MESSAGES["version_said"].format(status=returncode, last=repr(last[:120]))
            if last
            else MESSAGES["version_said_nothing"].format(status=returncode)
        )
        return MESSAGES["version_failed"].format(shown=shown, said=said, wanted=wanted)
    if match.group(1) != major:
        return MESSAGES["version_mismatch"].format(
            shown=shown, version=last, hub_version=hub_version, wanted=wanted
        )
    return None


def check_start_script(user: str, relative: str, hub_version: str, environment: dict[str, str]) -> str:
    """The script's path when it may start the user's server; StartScriptError says why not.

    `environment` is what the server would start with (PATH, HOME and the rest); the script runs
    once as the user, in a session of its own that is ended whatever it leaves running.
    """
    account = pwd.getpwnam(user)
    path = os.path.join(account.pw_dir, relative)
    shown = f"~/{relative}"
    problem = script_problem(path, shown, account.pw_uid)
    if problem is not None:
        raise StartScriptError(problem)
    process = subprocess.Popen(
        ["runuser", "-u", user, "--", path, "--version"],
        cwd=account.pw_dir,
        env={**environment, "HOME": account.pw_dir, "USER": user, "LOGNAME": user},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=VERSION_TIMEOUT_S)
        returncode: int | None = process.returncode
    except subprocess.TimeoutExpired:
        output, returncode = "", None
    finally:
        # What the script started (a server that ignored --version, a sleep) ends with it.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
    problem = version_problem(returncode, output, shown, hub_version)
    if problem is not None:
        raise StartScriptError(problem)
    return path
