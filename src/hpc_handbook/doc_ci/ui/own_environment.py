"""The walk's own environment: built in the account's home as the recipe "Your own JupyterLab" builds it.

A virtual environment with uv, JupyterLab at the default environment's release, JupyterHub at the
hub's, and the recipe's third-party extension; a start-up script that starts it. The walk then
chooses "My own environment" on the form and looks for the extension in the browser. Nothing of it
stays: a script the account already had is never overwritten, and both are removed afterwards.
"""

from __future__ import annotations

import contextlib
import pwd
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: The installer the recipe uses, at the release it pins.
UV = "uv==0.13.9"
BUILD_TIMEOUT_S = 600


class OwnEnvironmentError(RuntimeError):
    """The account's own environment could not be built; the message says which step failed."""


@dataclass(frozen=True)
class OwnEnvironmentBuild:
    """What to build in the account's home, and where."""

    script: str
    folder: str
    packages: tuple[str, ...]
    extension: str


def _as_user(user: str, command: str, home: Path) -> None:
    try:
        subprocess.run(
            ["runuser", "-u", user, "--", "bash", "-lc", command],
            cwd=home, check=True, timeout=BUILD_TIMEOUT_S, capture_output=True, text=True,
        )  # fmt: skip
    except subprocess.CalledProcessError as error:
        said = (error.stderr or error.stdout or "").strip().splitlines()[-1:] or ["nothing"]
        raise OwnEnvironmentError(f"`{command}` failed as {user}: {said[0]}") from None
    except subprocess.TimeoutExpired:
        raise OwnEnvironmentError(f"`{command}` took more than {BUILD_TIMEOUT_S} s as {user}") from None


@contextlib.contextmanager
def built_for(user: str, setup: OwnEnvironmentBuild) -> Iterator[None]:
    """The account's own environment and start-up script while the block runs; removed after."""
    home = Path(pwd.getpwnam(user).pw_dir)
    script, folder = home / setup.script, home / setup.folder
    if script.exists():
        raise OwnEnvironmentError(
            f"{user} already has a start-up script, ~/{setup.script}: it stays untouched"
        )
    env, quoted_script = shlex.quote(str(folder)), shlex.quote(str(script))
    made_parent = not script.parent.exists()
    try:
        _as_user(
            user,
            f"python3 -m venv {env} && {env}/bin/python -m pip install --quiet {UV} && "
            f"{env}/bin/uv pip install --quiet --system-certs --cache-dir {env}/cache "
            f"--python {env}/bin/python {shlex.join(setup.packages)}",
            home,
        )
        _as_user(
            user,
            f"mkdir -p {shlex.quote(str(script.parent))} && "
            f"printf '#!/bin/bash\\nexec %s/bin/jupyterhub-singleuser \"$@\"\\n' {env} > {quoted_script} "
            f"&& chmod 700 {quoted_script}",
            home,
        )
        yield
    finally:
        script.unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        if made_parent:
            with contextlib.suppress(OSError):
                script.parent.rmdir()  # only when empty: the server may have written settings there
