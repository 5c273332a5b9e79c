"""The snapshot's Lmod part: the modules Lmod's own spider lists under the site's MODULEPATH."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpc_handbook.probe.tools import run_command


def modules_from_lmod_json(text: str) -> dict[str, dict[str, Any]]:
    """Parse `spider -o jsonSoftwarePage`: each module's versions and its default version."""
    modules: dict[str, dict[str, Any]] = {}
    for package in json.loads(text or "[]"):
        name = package.get("package")
        if not name:
            continue
        versions = sorted({v["versionName"] for v in package.get("versions", []) if v.get("versionName")})
        marked = [v["versionName"] for v in package.get("versions", []) if v.get("markedDefault")]
        entry = modules.setdefault(name, {"versions": [], "default": None})
        entry["versions"] = sorted({*entry["versions"], *versions}, key=_version_key)
        entry["default"] = (marked[0] if marked else package.get("defaultVersionName")) or entry["default"]
    return modules


def modules_from_terse_avail(avail: str, defaults: str) -> dict[str, dict[str, Any]]:
    """Parse `module -t avail` and `module -t -d avail`, the fallback when spider is missing."""

    def names(text: str) -> list[tuple[str, str]]:
        found = []
        for line in text.splitlines():
            line = re.sub(r"\(.*?\)$", "", line.strip())
            if not line or line.endswith((":", "/")) or "/" not in line:
                continue
            name, _, version = line.rpartition("/")
            found.append((name, version))
        return found

    modules: dict[str, dict[str, Any]] = {}
    for name, version in names(avail):
        modules.setdefault(name, {"versions": [], "default": None})["versions"].append(version)
    for name, version in names(defaults):
        if name in modules:
            modules[name]["default"] = version
    for entry in modules.values():
        entry["versions"] = sorted(set(entry["versions"]), key=_version_key)
    return modules


def _version_key(version: str) -> tuple[Any, ...]:
    # Compare numerically where Lmod would, so 12.10 sorts after 12.9.
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"[.\-_]", version)
    )


def lmod_libexec() -> Path | None:
    """Find Lmod's libexec folder: $LMOD_DIR, $LMOD_CMD's folder, then the usual install places."""
    candidates = [os.environ.get("LMOD_DIR", ""), os.path.dirname(os.environ.get("LMOD_CMD", ""))]
    candidates += [
        "/usr/share/lmod/lmod/libexec",
        "/opt/apps/lmod/lmod/libexec",
        "/usr/local/lmod/lmod/libexec",
    ]
    for candidate in candidates:
        if candidate and Path(candidate, "lmod").exists():
            return Path(candidate)
    return None


def probe_modules(paths: Sequence[str]) -> dict[str, Any]:
    """List the modules under the site's MODULEPATH with Lmod's own spider (not by reading folders)."""
    libexec = lmod_libexec()
    if libexec is None:
        return {"lmod_version": None, "available": {}, "error": "Lmod was not found"}
    existing = [p for p in paths if Path(p).is_dir()]
    version_run = run_command([str(libexec / "lmod"), "--version"])
    version = re.search(r"Version (\S+)", version_run.stderr + version_run.stdout)
    if not existing:
        return {
            "lmod_version": version and version.group(1),
            "available": {},
            "error": "no module path exists",
        }
    spider = run_command([str(libexec / "spider"), "-o", "jsonSoftwarePage", ":".join(existing)])
    try:
        available = modules_from_lmod_json(spider.stdout) if spider.returncode == 0 else None
    except json.JSONDecodeError:
        available = None
    if available is None:
        env = {**os.environ, "MODULEPATH": ":".join(existing)}
        avail = run_command([str(libexec / "lmod"), "bash", "-t", "avail"], env=env).stderr
        defaults = run_command([str(libexec / "lmod"), "bash", "-t", "-d", "avail"], env=env).stderr
        available = modules_from_terse_avail(avail, defaults)
    return {"lmod_version": version and version.group(1), "available": available, "error": None}
