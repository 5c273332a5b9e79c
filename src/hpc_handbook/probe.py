"""`hpc-handbook probe`: record what the site really offers in one deterministic snapshot.

The snapshot (`book/data/snapshot.json`) lists every site kernelspec with the versions its
own environment reports, the Lmod modules, the Slurm partitions and the Jupyter server.
The system status page, the drift check and the changelog of system changes all read it.
Only the top-level `taken` date varies between two probes of an unchanged site, so it is
left out of every comparison and fingerprint. Its model, and how it is read and written,
is `hpc_handbook.data.snapshot`; what changed between two is `hpc_handbook.system_changes`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import queue
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hpc_handbook.data.files import require
from hpc_handbook.data.snapshot import (
    DEFAULT_SNAPSHOT,
    SNAPSHOT_FORMAT,
    Snapshot,
    baseline_snapshot,
    load_snapshot,
    write_snapshot,
)

# Kept importable from here for the site tests and the job mix, which knew them as the probe's.
from hpc_handbook.data.snapshot import compared_content as compared_content
from hpc_handbook.data.snapshot import slurm_duration_seconds as slurm_duration_seconds
from hpc_handbook.login_environment import login_environment, new_home
from hpc_handbook.profile import Kernel, Profile, load_profile
from hpc_handbook.system_changes import snapshot_changes, write_change_fragments

#: The site's kernelspecs live here; it must come first so a venv's own python3 cannot shadow them.
SITE_JUPYTER_DATA_DIR = "/usr/local/share/jupyter"

_MARKER_START = "<<handbook-probe>>"
_MARKER_END = "<<end-handbook-probe>>"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


# --- Where the site's Jupyter data lives -------------------------------------------------


def site_jupyter_path() -> str:
    """Return the JUPYTER_PATH that puts the site's kernelspecs before any venv's own."""
    try:
        from hpc_handbook.reference_site import site_jupyter_path as reference_site_dir
    except ImportError:
        site_dir = SITE_JUPYTER_DATA_DIR
    else:
        site_dir = reference_site_dir()
    existing = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p and p != site_dir]
    return os.pathsep.join([site_dir, *existing])


@contextlib.contextmanager
def site_jupyter_environment() -> Iterator[None]:
    """Point jupyter_client at the site's kernelspecs for the duration of the block."""
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = site_jupyter_path()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = saved


def site_kernel_dirs() -> list[str]:
    """Kernel folders of the site: JUPYTER_PATH and the system folders, not the prober's own.

    The user's folder and the running venv's folder describe whoever runs the probe, not
    the site, and would make two admins' snapshots differ.
    """
    from jupyter_core import paths

    own = {
        os.path.realpath(paths.jupyter_data_dir()),
        os.path.realpath(os.path.join(sys.prefix, "share", "jupyter")),
    }
    system = {os.path.realpath(p) for p in paths.SYSTEM_JUPYTER_PATH}
    dirs = []
    for data_dir in paths.jupyter_path():
        real = os.path.realpath(data_dir)
        if real in own and real not in system:
            continue
        dirs.append(os.path.join(data_dir, "kernels"))
    return dirs


# --- Parsing what the site's tools print (pure, unit-tested) ----------------------------


def parse_key_values(line: str) -> dict[str, str]:
    """Parse one `Key=Value Key=Value` line of `scontrol --oneliner` output."""
    fields: dict[str, str] = {}
    for token in line.split():
        key, sep, value = token.partition("=")
        if sep:
            fields[key] = value
    return fields


def parse_scontrol_oneliner(text: str) -> list[dict[str, str]]:
    return [parse_key_values(line) for line in text.splitlines() if "=" in line]


def _gpus_in_gres(gres: str) -> int:
    """Count GPUs in a node's Gres string, e.g. `gpu:a100:4(S:0-1),shard:8` -> 4."""
    total = 0
    for item in gres.split(","):
        parts = re.sub(r"\(.*?\)", "", item).split(":")
        if parts[0] == "gpu" and parts[-1].isdigit():
            total += int(parts[-1])
    return total


def _int_or_unlimited(value: str | None) -> int | str:
    if value is None or not value.isdigit():
        return "UNLIMITED"
    return int(value)


def partitions_from_scontrol(partition_text: str, node_text: str) -> dict[str, dict[str, Any]]:
    """Build the snapshot's partitions from `scontrol show partition|node --oneliner`.

    Node names are left out on purpose: they are host names, and a count says enough.
    """
    nodes = parse_scontrol_oneliner(node_text)
    partitions: dict[str, dict[str, Any]] = {}
    for fields in parse_scontrol_oneliner(partition_text):
        name = fields.get("PartitionName")
        if not name:
            continue
        members = [n for n in nodes if name in n.get("Partitions", "").split(",")]
        node_memory = [int(n["RealMemory"]) for n in members if n.get("RealMemory", "").isdigit()]
        limit = fields.get("MaxMemPerNode", "UNLIMITED")
        candidates = [*node_memory, *([int(limit)] if limit.isdigit() else [])]
        gpus = [_gpus_in_gres(n.get("Gres", "")) for n in members]
        partitions[name] = {
            "state": fields.get("State", "UNKNOWN"),
            "default": fields.get("Default") == "YES",
            "max_time": fields.get("MaxTime", "UNLIMITED"),
            "max_nodes": _int_or_unlimited(fields.get("MaxNodes")),
            "total_nodes": int(fields.get("TotalNodes", "0") or 0),
            "total_cpus": int(fields.get("TotalCPUs", "0") or 0),
            # What one job may use on one node: the partition cap or the smallest node.
            "memory_per_node_mb": min(candidates) if candidates else None,
            "gpus_per_node": min(gpus) if gpus else 0,
        }
    return partitions


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


# --- Kernels ------------------------------------------------------------------------------


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


#: The Slurm kernel launcher puts this variable's value in its job's comment, so the probe
#: can find the jobs of its own kernels, and only those, whatever happens to the kernel.
KERNEL_JOB_COMMENT_ENV = "HANDBOOK_KERNEL_JOB_COMMENT"


def jobs_with_comment(comment: str) -> list[str]:
    """IDs of the jobs Slurm still knows whose comment is `comment`."""
    if shutil.which("squeue") is None:
        return []
    result = subprocess.run(["squeue", "-h", "-o", "%i|%k"], capture_output=True, text=True, check=False)
    ids = []
    for line in result.stdout.splitlines():
        job_id, _, job_comment = line.partition("|")
        if job_comment.strip() == comment:
            ids.append(job_id.strip())
    return ids


def ensure_jobs_gone(comment: str, *, timeout: float = 30.0) -> list[str]:
    """Wait for the jobs with `comment` to end after their kernel's shutdown; cancel any that linger.

    Returns the IDs that were still there when cancelled (normally none).
    """
    deadline = time.monotonic() + timeout
    while (left := jobs_with_comment(comment)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if not left:
        return []
    subprocess.run(["scancel", "--quiet", *left], capture_output=True, check=False)
    deadline = time.monotonic() + timeout
    while jobs_with_comment(comment) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


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
    stdout: list[str] = []
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
        if code is not None:
            msg_id = client.execute(code, silent=False, store_history=False, allow_stdin=False)
            deadline = time.monotonic() + timeout
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
                    break
        return info, "".join(stdout)
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
        log.close()


def probe_kernel(
    name: str,
    *,
    spec: dict[str, Any],
    kernel: Kernel | None,
    kernel_spec_manager: Any,
    timeout: float,
    environment: dict[str, str],
):
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


# --- Lmod, Slurm and Jupyter --------------------------------------------------------------


def _run(
    command: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(command), capture_output=True, text=True, check=False, env=env, timeout=timeout
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
    version_run = _run([str(libexec / "lmod"), "--version"])
    version = re.search(r"Version (\S+)", version_run.stderr + version_run.stdout)
    if not existing:
        return {
            "lmod_version": version and version.group(1),
            "available": {},
            "error": "no module path exists",
        }
    spider = _run([str(libexec / "spider"), "-o", "jsonSoftwarePage", ":".join(existing)])
    try:
        available = modules_from_lmod_json(spider.stdout) if spider.returncode == 0 else None
    except json.JSONDecodeError:
        available = None
    if available is None:
        env = {**os.environ, "MODULEPATH": ":".join(existing)}
        avail = _run([str(libexec / "lmod"), "bash", "-t", "avail"], env=env).stderr
        defaults = _run([str(libexec / "lmod"), "bash", "-t", "-d", "avail"], env=env).stderr
        available = modules_from_terse_avail(avail, defaults)
    return {"lmod_version": version and version.group(1), "available": available, "error": None}


def probe_slurm() -> tuple[str | None, dict[str, dict[str, Any]]]:
    if shutil.which("scontrol") is None:
        return None, {}
    version = re.search(r"(\d+\.\d+\.\d+)", _run(["scontrol", "--version"]).stdout)
    partitions = _run(["scontrol", "show", "partition", "--oneliner"])
    nodes = _run(["scontrol", "show", "node", "--oneliner"])
    if partitions.returncode != 0:
        return version and version.group(1), {}
    return version and version.group(1), partitions_from_scontrol(partitions.stdout, nodes.stdout)


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
        versions_run = _run([python, "-c", snippet], env=env)
        lab = _run([python, "-m", "jupyter", "labextension", "list"], env=env)
        server = _run([python, "-m", "jupyter", "server", "extension", "list"], env=env)
    try:
        versions = json.loads(versions_run.stdout)
    except json.JSONDecodeError:
        versions = {}
    return {
        "packages": {k: v for k, v in sorted(versions.items()) if v is not None},
        "lab_extensions": parse_labextension_list(lab.stdout + lab.stderr),
        "server_extensions": parse_server_extension_list(server.stdout + server.stderr),
    }


# --- The snapshot -------------------------------------------------------------------------


def probe_snapshot(
    profile: Profile,
    *,
    kernel_timeout: float = 120.0,
    taken: dt.date | None = None,
    jupyter: str | None = None,
) -> Snapshot:
    """Probe the running site and return its snapshot; `jupyter` is the Python of the Jupyter server."""
    slurm_version, partitions = probe_slurm()
    modules = probe_modules(profile.modules.paths)
    lmod_version = modules.pop("lmod_version")
    return Snapshot.model_validate(
        {
            "format": SNAPSHOT_FORMAT,
            "taken": taken or dt.date.today(),
            "site": profile.site.short_name,
            "kernels": probe_kernels(profile, timeout=kernel_timeout),
            "partitions": partitions,
            "modules": modules,
            "jupyter": probe_jupyter(jupyter),
            "versions": {"slurm": slurm_version, "lmod": lmod_version},
        }
    )


def probe_site(
    profile: Profile,
    *,
    kernel_timeout: float = 120.0,
    taken: dt.date | None = None,
    jupyter: str | None = None,
) -> dict[str, Any]:
    """The snapshot as the JSON it is written as, for callers that index it like the file."""
    snapshot = probe_snapshot(profile, kernel_timeout=kernel_timeout, taken=taken, jupyter=jupyter)
    return snapshot.model_dump(mode="json", by_alias=True)


# --- The command --------------------------------------------------------------------------


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "probe", help="record the site's kernels, modules and partitions in a snapshot"
    )
    parser.add_argument("--site", help="site profile (default: site.yml)")
    parser.add_argument(
        "--output", default=str(DEFAULT_SNAPSHOT), help=f"snapshot to write (default: {DEFAULT_SNAPSHOT})"
    )
    parser.add_argument(
        "--changelog",
        metavar="DIR",
        help="also write changelog fragments for what changed since the last committed snapshot",
    )
    parser.add_argument("--previous", help="compare with this snapshot instead of the committed one")
    parser.add_argument("--kernel-timeout", type=float, default=120.0, help="seconds to wait for each kernel")
    parser.add_argument(
        "--jupyter-python",
        help="Python of the site's Jupyter server (default: the one `jupyter-lab` on PATH runs with)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    profile = load_profile(args.site)
    output = Path(args.output)
    previous: Snapshot | None
    if args.previous:
        path = Path(args.previous)
        previous = require(load_snapshot(path), path, what="a snapshot to compare with")
    else:
        previous = baseline_snapshot(output)
    snapshot = probe_snapshot(profile, kernel_timeout=args.kernel_timeout, jupyter=args.jupyter_python)
    write_snapshot(output, snapshot)
    failed = sorted(name for name, kernel in snapshot.kernels.items() if kernel.error)
    print(
        f"Probed {len(snapshot.kernels)} kernels, {len(snapshot.partitions)} partitions and "
        f"{len(snapshot.modules.available)} modules; wrote {output}"
    )
    for name in failed:
        print(f"warning: kernel {name}: {snapshot.kernels[name].error}", file=sys.stderr)
    if args.changelog:
        if previous is None:
            print("No earlier snapshot to compare with; no changelog fragments written.")
        else:
            changes = snapshot_changes(previous, snapshot, profile=profile)
            written = write_change_fragments(Path(args.changelog), changes, date=snapshot.taken)
            for path in written:
                print(f"Wrote {path}")
            if not written:
                print("No system changes since the last committed snapshot.")
    return 0
