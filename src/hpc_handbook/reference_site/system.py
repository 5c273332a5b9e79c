"""Side-effect helpers of the reference site: commands, files, processes, Debian packages, venvs."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from hpc_handbook.processes import terminate
from hpc_handbook.reference_site.paths import ReferenceSiteError


def dedupe(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


Log = Callable[[str], None]


def print_log(message: str) -> None:
    print(f"site: {message}", flush=True)


def run(
    command: Sequence[str | os.PathLike[str]],
    *,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            [str(part) for part in command],
            capture_output=True,
            text=True,
            env=None if env is None else dict(env),
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ReferenceSiteError(f"{command[0]} is not installed ({exc.strerror})") from None
    except subprocess.TimeoutExpired:
        raise ReferenceSiteError(f"{shlex.join(map(str, command))} took more than {timeout:.0f} s") from None
    if check and result.returncode != 0:
        output = (result.stderr.strip() or result.stdout.strip())[-2000:]
        raise ReferenceSiteError(f"{shlex.join(map(str, command))} failed ({result.returncode}): {output}")
    return result


def write_if_changed(path: Path, text: str, *, mode: int = 0o644) -> bool:
    """Write `text` unless the file already holds it; return whether it changed."""
    try:
        if path.read_text(encoding="utf-8") == text and (path.stat().st_mode & 0o777) == mode:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.chmod(mode)
    temporary.replace(path)
    return True


def symlink_if_changed(path: Path, target: str) -> bool:
    if path.is_symlink() and os.readlink(path) == target:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(target)
    return True


def remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def node_name() -> str:
    """The machine's short hostname: slurmd finds its NodeName by it."""
    return socket.gethostname().split(".")[0] or "localhost"


def find_processes(command_name: str, *, include_zombies: bool = False) -> list[int]:
    """Pids whose command name is exactly `command_name`; ended ones (zombies) only if asked."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # /proc/PID/stat is "pid (comm) state ..."; a zombie ('Z') has ended and only waits to be reaped.
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended while we looked
        comm, _, rest = stat.partition("(")[2].rpartition(")")
        if comm == command_name and (include_zombies or rest.split()[:1] != ["Z"]):
            pids.append(int(entry.name))
    return sorted(pids)


def stop_processes(command_name: str, *, timeout_s: float = 15) -> None:
    terminate(find_processes(command_name), grace=timeout_s)


def dpkg_installed(packages: Sequence[str]) -> set[str]:
    result = run(
        ["dpkg-query", "--show", "--showformat=${Package} ${db:Status-Status}\\n", *packages], check=False
    )
    return {line.split()[0] for line in result.stdout.splitlines() if line.endswith(" installed")}


def ensure_apt_packages(packages: Sequence[str], log: Log) -> None:
    missing = [p for p in packages if p not in dpkg_installed(packages)]
    if not missing:
        return
    log(f"installing {' '.join(missing)} (apt)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Package scripts must not start daemons: there is no init system, and `up` starts them itself.
    policy = Path("/usr/sbin/policy-rc.d")
    added_policy = not policy.exists()
    if added_policy:
        policy.write_text(
            "#!/bin/sh\n# Added by hpc-handbook site up while it installs packages.\nexit 101\n"
        )
        policy.chmod(0o755)
    try:
        run(["apt-get", "update"], env=env, timeout=600)
        run(["apt-get", "install", "--yes", "--no-install-recommends", *missing], env=env, timeout=1200)
    finally:
        if added_policy:
            policy.unlink(missing_ok=True)


def wait_for(predicate: Callable[[], bool], *, timeout_s: float, what: str, interval_s: float = 0.3) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise ReferenceSiteError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def base_python() -> Path:
    """The interpreter the site's venvs are built from: the system's, which every account can run.

    An interpreter under root's home (pyenv, say) would leave the kernels to root alone;
    $HANDBOOK_SITE_PYTHON picks another one.
    """
    python = (
        os.environ.get("HANDBOOK_SITE_PYTHON")
        or next((p for p in ("/usr/bin/python3",) if os.access(p, os.X_OK)), None)
        or shutil.which("python3")
        or sys.executable
    )
    result = run([python, "-c", "import sys; print(sys.base_prefix); print('%d.%d' % sys.version_info[:2])"])
    prefix, version = result.stdout.split()
    for candidate in (Path(prefix) / "bin" / f"python{version}", Path(prefix) / "bin" / "python3"):
        if candidate.exists():
            return candidate
    raise ReferenceSiteError(f"cannot find the interpreter of {python} under {prefix}")


VENV_STAMP = ".hpc-handbook-packages.json"


def uv_binary() -> str | None:
    """uv, from the project's own dependencies or PATH; None where neither has it."""
    try:
        from uv import find_uv_bin
    except ImportError:
        return shutil.which("uv")
    try:
        return find_uv_bin()
    except FileNotFoundError:
        return shutil.which("uv")


def _venv_commands(path: Path, packages: Sequence[str], python: Path) -> list[list[str | Path]]:
    """How to build the venv: uv where there is one (seconds), else venv and pip (minutes)."""
    commands: list[list[str | Path]]
    uv = uv_binary()
    if uv is not None:
        # --seed puts pip into the venv, as `python -m venv` does: users run it there.
        commands = [[uv, "venv", "--quiet", "--seed", "--python", python, path]]
        if packages:
            # Compiled now: kernels start faster, also where PYTHONDONTWRITEBYTECODE is set.
            python_in_venv = path / "bin" / "python"
            commands.append(
                [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", python_in_venv, *packages]
            )
        return commands
    commands = [[python, "-m", "venv", path]]
    if packages:
        pip: list[str | Path] = [
            path / "bin" / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ]
        commands.append([*pip, *packages])
    return commands


def ensure_venv(path: Path, packages: Sequence[str], python: Path, log: Log) -> bool:
    """A venv at `path` with `packages`; rebuilt only when the wanted set or interpreter changed."""
    stamp = path / VENV_STAMP
    wanted = json.dumps({"python": str(python), "packages": sorted(packages)}, indent=1) + "\n"
    if (path / "bin" / "python").exists() and stamp.exists() and stamp.read_text() == wanted:
        return False
    log(f"building {path} ({', '.join(packages) or 'no packages'})")
    remove(path)
    for command in _venv_commands(path, packages, python):
        run(command, timeout=900)
    stamp.write_text(wanted)
    return True


def ensure_token(path: Path) -> str:
    """An API token kept in `path`, readable by root alone; made once, kept across restarts."""
    if not (path.exists() and path.read_text(encoding="utf-8").strip()):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_if_changed(path, secrets.token_hex(32) + "\n", mode=0o600)
    return path.read_text(encoding="utf-8").strip()
