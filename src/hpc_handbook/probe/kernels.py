"""The snapshot's kernels: each site kernelspec started, asked for its versions, and shut down."""

from __future__ import annotations

import hashlib
import json
import queue
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpc_handbook.containers import ensure_containers_gone
from hpc_handbook.kernelspecs import site_jupyter_environment, site_kernel_dirs
from hpc_handbook.login_environment import login_environment, new_home
from hpc_handbook.profile import Kernel, Profile
from hpc_handbook.slurm import KERNEL_JOB_COMMENT_ENV, ensure_jobs_gone

_MARKER_START = "<<handbook-probe>>"


_MARKER_END = "<<end-handbook-probe>>"


def version_snippet(language: str, packages: Sequence[str]) -> str | None:
    """Code that prints the language version and package versions as marked JSON; None if unknown."""
    language = language.lower()
    names = json.dumps(list(packages))
    if language == "python":
        return (
            "import json as _j, platform as _p\n"
            "from importlib import metadata as _m\n"
            "def _v(name):\n"
            "    try:\n"
            "        return _m.version(name)\n"
            "    except _m.PackageNotFoundError:\n"
            "        return None\n"
            f"print({_MARKER_START!r} + _j.dumps({{'language_version': _p.python_version(), "
            f"'packages': {{n: _v(n) for n in {names}}}}}) + {_MARKER_END!r})\n"
        )
    if language == "r":
        vector = "c(" + ", ".join(json.dumps(p) for p in packages) + ")" if packages else "character(0)"
        return (
            "local({\n"
            f"  pk <- {vector}\n"
            "  v <- vapply(pk, function(p) tryCatch(as.character(utils::packageVersion(p)),"
            ' error = function(e) NA_character_), "")\n'
            "  items <- paste0('\"', pk, '\":', ifelse(is.na(v), 'null', paste0('\"', v, '\"')),"
            " collapse = ',')\n"
            f"  cat('{_MARKER_START}', '{{\"language_version\":\"', R.version$major, '.', R.version$minor,"
            " '\",\"packages\":{', items, '}}', "
            f"'{_MARKER_END}', sep = '')\n"
            "})\n"
        )
    if language == "bash":
        # bash_kernel's own version comes from kernel_info; bash itself has no packages to ask.
        return (
            'printf \'%s{"language_version":"%s","packages":{}}%s\\n\' '
            f"'{_MARKER_START}' \"${{BASH_VERSINFO[0]}}.${{BASH_VERSINFO[1]}}.${{BASH_VERSINFO[2]}}\" "
            f"'{_MARKER_END}'"
        )
    return None


def parse_snippet_output(stdout: str) -> dict[str, Any] | None:
    """Find the marked JSON in a kernel's stdout; None when the snippet printed none."""
    match = re.search(re.escape(_MARKER_START) + r"(.*?)" + re.escape(_MARKER_END), stdout, re.DOTALL)
    if match is None:
        return None
    try:
        return json.loads(match.group(1))
    except json.JSONDecodeError:
        return None


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def kernel_start(spec_metadata: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Read how a kernel starts from its kernelspec metadata (`handbook.start`)."""
    handbook = spec_metadata.get("handbook") or {}
    start = handbook.get("start", "unknown")
    details = {k: v for k, v in handbook.items() if k != "start" and isinstance(v, (str, int, list))}
    if isinstance(start, dict):
        details.update({k: v for k, v in start.items() if k not in {"kind", "type"}})
        start = start.get("kind") or start.get("type") or "unknown"
    return str(start), details


def fingerprint(content: Any) -> str:
    """Return a short, stable hash of JSON-able content."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def kernel_entry(
    *,
    spec: dict[str, Any],
    packages: Sequence[str],
    reported: dict[str, Any] | None,
    kernel_info: dict[str, Any] | None,
    error: str | None,
) -> dict[str, Any]:
    """Combine a kernelspec and what the kernel reported into one snapshot entry with its fingerprint."""
    start, details = kernel_start(spec.get("metadata") or {})
    language_info = (kernel_info or {}).get("language_info") or {}
    implementation = (kernel_info or {}).get("implementation")
    implementation_version = (kernel_info or {}).get("implementation_version")
    versions = dict((reported or {}).get("packages") or {})
    for package in packages:
        versions.setdefault(package, None)
        if versions[package] is None and implementation and _normal(package) == _normal(implementation):
            versions[package] = implementation_version
    entry = {
        "display_name": spec.get("display_name", ""),
        "language": spec.get("language", ""),
        "start": start,
        "start_details": details,
        "language_version": (reported or {}).get("language_version") or language_info.get("version"),
        "packages": versions,
        "implementation": implementation,
        "implementation_version": implementation_version,
        "error": error,
    }
    # The spec itself is hashed, not stored: its argv holds the site's install paths.
    entry["fingerprint"] = fingerprint({"spec": spec, "versions": {k: entry[k] for k in sorted(entry)}})
    return entry


class KernelProbeError(Exception):
    """The kernel did not start or did not answer; the message is stable across runs."""


def _stdout_of(client: Any, code: str, *, timeout: float) -> str:
    """Run `code` in the kernel and return what it printed to stdout once the kernel is idle."""
    msg_id = client.execute(code, silent=False, store_history=False, allow_stdin=False)
    deadline = time.monotonic() + timeout
    stdout: list[str] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise KernelProbeError(f"the version query did not finish within {timeout:g} s")
        try:
            message = client.get_iopub_msg(timeout=remaining)
        except queue.Empty:
            continue
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream" and content.get("name") == "stdout":
            stdout.append(content.get("text", ""))
        elif kind == "status" and content.get("execution_state") == "idle":
            return "".join(stdout)


def run_in_kernel(
    name: str, *, code: str | None, kernel_spec_manager: Any, timeout: float, environment: dict[str, str]
) -> tuple[dict[str, Any], str]:
    """Start a kernel, get its kernel_info and run `code`; always shut it down.

    Returns the kernel_info content and the code's stdout. A Slurm-backed kernel's job
    carries a comment unique to this call, and is gone (or cancelled) before this returns.
    """
    from jupyter_client.manager import KernelManager

    comment = f"hpc-handbook-probe-{secrets.token_hex(6)}"
    manager = KernelManager(kernel_name=name, kernel_spec_manager=kernel_spec_manager)
    client = None
    # The kernel's own log goes to a file, shown only when the kernel fails.
    log = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
    try:
        try:
            manager.start_kernel(
                env={**environment, KERNEL_JOB_COMMENT_ENV: comment}, stdout=subprocess.DEVNULL, stderr=log
            )
        except Exception as exc:
            raise KernelProbeError(f"the kernel did not start ({type(exc).__name__})") from None
        client = manager.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=timeout)
        except RuntimeError:
            raise KernelProbeError(f"the kernel did not answer within {timeout:g} s") from None
        info = client.kernel_info(reply=True, timeout=timeout)["content"]
        return info, ("" if code is None else _stdout_of(client, code, timeout=timeout))
    except KernelProbeError:
        log.seek(0)
        tail = log.read()[-2000:].strip()
        if tail:
            print(f"kernel {name} said:\n{tail}", file=sys.stderr)
        raise
    finally:
        if client is not None:
            client.stop_channels()
        if manager.has_kernel:
            try:
                manager.shutdown_kernel(now=False)
            except Exception:
                manager.shutdown_kernel(now=True)
        manager.cleanup_resources()
        ensure_jobs_gone(comment)
        ensure_containers_gone(comment)
        log.close()


def probe_kernel(
    name: str,
    *,
    spec: dict[str, Any],
    kernel: Kernel | None,
    kernel_spec_manager: Any,
    timeout: float,
    environment: dict[str, str],
) -> dict[str, Any]:
    """Probe one kernel; a kernel that fails is recorded with a stable error, not raised."""
    packages = list(kernel.packages) if kernel else []
    code = version_snippet(spec.get("language", ""), packages)
    try:
        info, stdout = run_in_kernel(
            name, code=code, kernel_spec_manager=kernel_spec_manager, timeout=timeout, environment=environment
        )
    except KernelProbeError as exc:
        return kernel_entry(spec=spec, packages=packages, reported=None, kernel_info=None, error=str(exc))
    reported = parse_snippet_output(stdout)
    error = None if reported is not None or code is None else "the version query printed no result"
    return kernel_entry(spec=spec, packages=packages, reported=reported, kernel_info=info, error=error)


def probe_kernels(profile: Profile, *, timeout: float, only: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    from jupyter_client.kernelspec import KernelSpecManager

    with site_jupyter_environment(), tempfile.TemporaryDirectory(prefix="handbook-probe-") as scratch:
        # Kernels start exactly as the doc CI starts them: as a new account, in the site's login
        # environment, so a kernel that only works from the prober's own venv is reported broken.
        environment = login_environment(new_home(Path(scratch) / "home"))
        manager = KernelSpecManager(kernel_dirs=site_kernel_dirs())
        # Without this, jupyter_client adds the prober's own ipykernel as "python3".
        manager.ensure_native_kernel = False
        specs = manager.get_all_specs()
        declared = {k.name: k for k in profile.kernels}
        kernels = {}
        for name in sorted(specs):
            if only and name not in only:
                continue
            spec = specs[name]["spec"]
            kernels[name] = probe_kernel(
                name,
                spec=spec,
                kernel=declared.get(name),
                kernel_spec_manager=manager,
                timeout=timeout,
                environment=environment,
            )
    return kernels
