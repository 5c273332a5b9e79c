"""The snapshot's Jupyter part: the server's packages and its Lab and server extensions."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from hpc_handbook.kernelspecs import site_jupyter_environment
from hpc_handbook.probe.tools import run_command

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse_labextension_list(text: str) -> dict[str, dict[str, Any]]:
    """Parse `jupyter labextension list`: `name vX.Y enabled OK (python, pkg)` lines."""
    extensions: dict[str, dict[str, Any]] = {}
    for line in _ANSI.sub("", text).splitlines():
        match = re.match(r"^\s+(\S+) v(\S+) (enabled|disabled)\b", line)
        if match:
            extensions[match.group(1)] = {"version": match.group(2), "enabled": match.group(3) == "enabled"}
    return extensions


def parse_server_extension_list(text: str) -> dict[str, dict[str, Any]]:
    """Parse `jupyter server extension list`: an `enabled` line, then a validation line with the version."""
    extensions: dict[str, dict[str, Any]] = {}
    for line in _ANSI.sub("", text).splitlines():
        state = re.match(r"^\s{4}(\S+) (enabled|disabled)\s*$", line)
        if state:
            entry = extensions.setdefault(state.group(1), {"version": None, "enabled": False})
            entry["enabled"] = state.group(2) == "enabled"
            continue
        checked = re.match(r"^\s{6}(\S+) (\S*)\s+OK\s*$", line)
        if checked and checked.group(1) in extensions and checked.group(2):
            extensions[checked.group(1)]["version"] = checked.group(2)
    return extensions


def jupyter_python() -> str:
    """The Python of the site's Jupyter server: the one `jupyter-lab` on PATH runs with."""
    script = shutil.which("jupyter-lab")
    if script:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            first = Path(script).read_text(encoding="utf-8").splitlines()[0]
            if first.startswith("#!") and "python" in first and " " not in first[2:].strip():
                return first[2:].strip()
    return sys.executable


_JUPYTER_PACKAGES = (
    "jupyterlab",
    "jupyter_server",
    "jupyterhub",
    "notebook",
    "jupyter_client",
    "jupyter_core",
)


def probe_jupyter(python: str | None = None) -> dict[str, Any]:
    python = python or jupyter_python()
    snippet = (
        "import json\nfrom importlib import metadata\n"
        "def v(n):\n    try:\n        return metadata.version(n)\n    except metadata.PackageNotFoundError:\n"
        "        return None\n"
        f"print(json.dumps({{n: v(n) for n in {list(_JUPYTER_PACKAGES)!r}}}))\n"
    )
    with site_jupyter_environment():
        env = {**os.environ, "NO_COLOR": "1"}
        versions_run = run_command([python, "-c", snippet], env=env)
        lab = run_command([python, "-m", "jupyter", "labextension", "list"], env=env)
        server = run_command([python, "-m", "jupyter", "server", "extension", "list"], env=env)
    try:
        versions = json.loads(versions_run.stdout)
    except json.JSONDecodeError:
        versions = {}
    return {
        "packages": {k: v for k, v in sorted(versions.items()) if v is not None},
        "lab_extensions": parse_labextension_list(lab.stdout + lab.stderr),
        "server_extensions": parse_server_extension_list(server.stdout + server.stderr),
    }
