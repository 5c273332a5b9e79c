"""The reference site's JupyterHub: its environment, configuration, daemon and status.

The hub (pinned JupyterHub, batchspawner, wrapspawner, jupyterhub-moss and the idle culler)
has a venv of its own under the site prefix; users' servers start in the profile's JupyterLab
environments (`server_environment`), each a venv every account can run. Debian's
configurable-http-proxy, a daemon of its own (`proxy`), routes to the servers, so that the hub
restarts without taking them along. Everything listens on loopback only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpc_handbook.data.waiting_times import DEFAULT_OUTPUT as WAITING_TIMES_DATA
from hpc_handbook.data.waiting_times import load_waiting_times
from hpc_handbook.hub import launch as launch_module
from hpc_handbook.processes import is_running, terminate
from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.containers import ROOTLESS_STORAGE, podman_settings
from hpc_handbook.reference_site.examples_mirror import (
    ensure_examples_mirror,
    ensure_mirror_gitconfig,
    mirror_environment,
)
from hpc_handbook.reference_site.hub_pages import hub_page_settings
from hpc_handbook.reference_site.paths import (
    SITE_LOG_DIR,
    SITE_STATE_DIR,
    ReferenceSiteError,
    reference_site_dir,
    site_layout,
)
from hpc_handbook.reference_site.proxy import (
    NODE_PATH,
    PROXY,
    PROXY_TOKEN_FILE,
    ROUTES_CHECK_S,
    ensure_proxy,
    proxy_ports,
    stop_proxy,
)
from hpc_handbook.reference_site.server_environment import (
    HUB_VERSION,
    SERVER_PACKAGES,
    ensure_environments,
    environments_dir,
    form_environments,
    server_environment_variables,
)
from hpc_handbook.reference_site.servers import SITE_SERVICE_SCOPES, SITE_TOKEN_FILE
from hpc_handbook.reference_site.spawn_options import Place
from hpc_handbook.reference_site.system import (
    Log,
    ensure_token,
    ensure_venv,
    find_processes,
    run,
    wait_for,
    write_if_changed,
)
from hpc_handbook.reference_site.users import SECRETS_DIR, accounts, passwords
from hpc_handbook.site_facts import spawn_places as site_spawn_places
from hpc_handbook.waiting_times.stats import NODE_BUCKETS, WALLTIME_BUCKETS

#: Pinned: a hub upgrade is a change the probe reports, never a surprise of `site up`.
HUB_PACKAGES = (
    *SERVER_PACKAGES,
    "wrapspawner==1.0.1",
    "jupyterhub-moss==10.1.0",
    "jupyterhub-idle-culler==2.0.0",
    "pamela==1.2.0",
)
#: git: nbgitpuller in the users' servers clones the handbook's examples with it.
HUB_APT_PACKAGES = ("node-configurable-http-proxy", "git")
HUB_STATE_DIR = SITE_STATE_DIR / "hub"
HUB_LOG = SITE_LOG_DIR / "jupyterhub.log"
#: The servers' PATH: the system's, for `sbatch`, `module` and the kernels' launchers.
SERVER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
START_TIMEOUT_S = 300


@dataclass(frozen=True)
class HubLayout:
    venv: Path
    config_dir: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def config(self) -> Path:
        return self.config_dir / "jupyterhub_config.py"


def hub_layout(profile: Profile) -> HubLayout:
    prefix = site_layout(profile).prefix / "hub"
    return HubLayout(venv=prefix / "venv", config_dir=prefix / "etc")


def hub_url(profile: Profile) -> str:
    assert profile.reference_site is not None
    return f"http://127.0.0.1:{profile.reference_site.hub_port}"


def hub_api_url(profile: Profile) -> str | None:
    """The hub's own API, not through the proxy (None without a hub)."""
    setup = profile.reference_site
    return f"http://127.0.0.1:{setup.hub_api_port}" if setup is not None else None


def spawn_places(profile: Profile) -> list[Place]:
    """What the spawn form offers, from the site vocabulary: the login node, then each Jupyter partition."""
    return [
        Place(p.value, p.label, p.partition, p.max_walltime, p.max_nodes, p.max_cpus)
        for p in site_spawn_places(profile)
    ]


def doc_ci_token_file(profile: Profile) -> Path | None:
    return profile.hub.token_file if profile.hub else None


def waiting_times_for_hub(path: Path | None = None) -> dict[str, Any] | None:
    """The waiting-time data the waiting-times page shows, with its buckets' bounds, for the
    form's forecast (`forecast.recent_waits`); None where none was collected."""
    data = load_waiting_times(path or reference_site_dir().parent / WAITING_TIMES_DATA)
    if data is None:
        return None
    walltime_buckets, smallest = [], 0
    for largest, label in WALLTIME_BUCKETS:
        walltime_buckets.append([smallest, largest, label])
        smallest = (largest or 0) + 1
    return {
        "period": data.period.model_dump(),
        "node_buckets": [list(bucket) for bucket in NODE_BUCKETS],
        "walltime_buckets": walltime_buckets,
        "partitions": {name: waits.model_dump() for name, waits in data.partitions.items()},
    }


def hub_settings(profile: Profile, today: dt.date | None = None) -> dict[str, Any]:
    assert profile.reference_site is not None
    setup = profile.reference_site
    environments = form_environments(profile, today or dt.date.today())
    idle = profile.jupyter.idle_timeout_minutes
    settings: dict[str, Any] = {
        "hub_port": setup.hub_port,
        "hub_api_port": setup.hub_api_port,
        # The proxy runs apart from the hub (proxy.py); the hub reaches its API with this token.
        "proxy": {"api_url": proxy_ports(profile).api_url, "token_file": str(PROXY_TOKEN_FILE)},
        "routes_check_s": ROUTES_CHECK_S,
        # The site's own service: `site down` stops every server through it (servers.py).
        "site_service": {"token_file": str(SITE_TOKEN_FILE), "scopes": list(SITE_SERVICE_SCOPES)},
        "state_dir": str(HUB_STATE_DIR),
        "allowed_users": [a.name for a in accounts(profile)],
        # The doc CI keeps a server per place and environment, and the probe one more.
        "named_server_limit": 2 + (1 + len(profile.jupyter_partitions)) * len(environments),
        "places": [place.to_json() for place in spawn_places(profile)],
        "environments": [environment.to_json() for environment in environments],
        "hub_version": HUB_VERSION,
        "idle_timeout_s": idle * 60 if idle is not None else None,
        "path": SERVER_PATH,
        "server_environment": {**server_environment_variables(profile), **mirror_environment(profile)},
        # The repository the pages' "Open on the hub" links may pull from (handbook_launch.py).
        "launch": {"repository": str(profile.site.repository_url).rstrip("/")},
        "start_timeout_s": START_TIMEOUT_S,
        "waiting_times": waiting_times_for_hub(),
        "hub_pages": hub_page_settings(profile),
        # Where users' podman keeps its state, and its settings: the hub ends its pause process.
        "podman": (
            {"environment": podman_settings(site_layout(profile)), "user_storage": ROOTLESS_STORAGE}
            if profile.containers
            else None
        ),
    }
    if profile.hub is not None:
        settings["doc_ci"] = {"user": profile.hub.doc_ci_user, "token_file": str(profile.hub.token_file)}
    return settings


def _hub_files(profile: Profile) -> dict[Path, str]:
    layout = hub_layout(profile)
    templates = reference_site_dir() / "templates"
    here = Path(__file__).parent
    # The hub imports these from its configuration folder, with what its own venv has.
    copied = {
        "jupyterhub_config.py": templates / "jupyterhub_config.py",
        "handbook_spawner.py": templates / "handbook_spawner.py",
        "handbook_spawn_options.py": here / "spawn_options.py",
        "handbook_spawn_form.py": here / "spawn_form.py",
        "handbook_slurm_answers.py": here / "slurm_answers.py",
        "handbook_job_queue.py": here / "job_queue.py",
        "handbook_forecast.py": here / "forecast.py",
        "handbook_own_environment.py": here / "own_environment.py",
        "handbook_launch.py": Path(launch_module.__file__ or ""),
        "handbook_launch_handler.py": templates / "handbook_launch_handler.py",
        "hub_messages.json": here / "hub_messages.json",
    }
    pages = templates / "hub-pages"
    copied |= {f"templates/{page.name}": page for page in sorted(pages.glob("*.html"))}
    return {
        **{layout.config_dir / name: source.read_text(encoding="utf-8") for name, source in copied.items()},
        layout.config_dir / "hub-settings.json": json.dumps(hub_settings(profile), indent=1) + "\n",
    }


def hub_env() -> dict[str, str]:
    """A clean environment: nothing of the caller's shell, venv or run tags reaches the servers."""
    # Debian's proxy finds its own modules there, whichever Node.js runs it.
    return {"PATH": SERVER_PATH, "LANG": "C.UTF-8", "HOME": "/root", "NODE_PATH": NODE_PATH}


def hub_pids() -> list[int]:
    return [pid for pid in find_processes("jupyterhub") if is_running(pid)]


def hub_answers(url: str, timeout_s: float = 3) -> dict[str, Any] | None:
    """The hub's API root (its version) when it answers, else None."""
    try:
        with urllib.request.urlopen(f"{url}/hub/api/", timeout=timeout_s) as response:
            data = json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return data if isinstance(data, dict) else None


def hub_failure() -> str:
    try:
        lines = HUB_LOG.read_text(errors="replace").splitlines()
    except OSError:
        return f"no log at {HUB_LOG}"
    reasons = [line for line in lines if line.startswith(("[E", "[C")) or "Error" in line]
    return "; ".join(reasons[-3:]) or (lines[-1] if lines else "its log is empty")


def start_hub(profile: Profile, log: Log) -> None:
    layout = hub_layout(profile)
    HUB_STATE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    HUB_LOG.parent.mkdir(parents=True, exist_ok=True)
    log(f"starting JupyterHub on {hub_url(profile)}")
    with open(HUB_LOG, "ab") as output:
        # `setsid --fork` detaches the hub the way slurmctld and munged detach themselves: nothing
        # here is left holding a child it never waits for.
        subprocess.run(
            ["setsid", "--fork", layout.bin / "jupyterhub", "-f", layout.config],
            check=True,
            cwd=HUB_STATE_DIR,
            env=hub_env(),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
        )
    try:
        wait_for(lambda: hub_answers(hub_url(profile)) is not None, timeout_s=90, what="JupyterHub to answer")
    except ReferenceSiteError:
        stop_hub()
        raise ReferenceSiteError(f"JupyterHub did not start: {hub_failure()}") from None


def stop_hub(log: Log | None = None) -> None:
    """Stop the hub alone: users' servers and the proxy keep running (`site down` ends them)."""
    if hub_pids() and log:
        log("stopping JupyterHub")
    terminate(hub_pids(), grace=40)


def ensure_hub(profile: Profile, python: Path, log: Log) -> None:
    """The hub's venv, configuration and daemon, as the profile says; restarted when they change.

    A configuration the new hub cannot start with is put back to the previous one, and the
    previous hub is started again.
    """
    if profile.reference_site is None:
        stop_hub(log)
        stop_proxy(log)
        return
    layout = hub_layout(profile)
    rebuilt = ensure_venv(layout.venv, list(HUB_PACKAGES), python, log)
    # A server already running keeps its environment until it stops; a new one starts in the new one.
    ensure_environments(profile, python, log, dt.date.today())
    ensure_examples_mirror(profile, log)
    ensure_mirror_gitconfig(profile)
    token = doc_ci_token_file(profile)
    if token is not None:
        ensure_token(token)
    ensure_token(SITE_TOKEN_FILE)
    ensure_token(PROXY_TOKEN_FILE)
    if profile.hub is not None and profile.hub.password_file is not None:
        password = passwords(profile)[profile.hub.doc_ci_user]
        write_if_changed(profile.hub.password_file, password + "\n", mode=0o600)
    SECRETS_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = _hub_files(profile)
    previous = {path: path.read_text(encoding="utf-8") for path in files if path.exists()}
    changed = [path for path, text in files.items() if write_if_changed(path, text)]
    # The hub is judged on its own port: the proxy is a daemon of its own (proxy.py).
    own_api = hub_api_url(profile) or hub_url(profile)
    running = bool(hub_pids()) and hub_answers(own_api) is not None
    if hub_pids() and not running and not changed and not rebuilt:
        log(f"JupyterHub runs but does not answer at {own_api}: restarting it")
    if not running or changed or rebuilt:
        stop_hub(log)
    # The proxy before the hub, which will not start without it. A proxy started anew lacks the
    # routes to running servers until the hub's next check of its routes.
    ensure_proxy(profile, log)
    if running and not changed and not rebuilt:
        return
    try:
        start_hub(profile, log)
    except ReferenceSiteError:
        if previous and changed:
            log("putting the previous hub configuration back")
            for path in files:
                if path in previous:
                    write_if_changed(path, previous[path])
            with contextlib.suppress(ReferenceSiteError):
                start_hub(profile, log)
        raise


def hub_versions(profile: Profile) -> dict[str, str]:
    """Versions of the hub's parts, as installed (the probe and `site status` show them)."""
    layout = hub_layout(profile)
    packages = ("jupyterhub", "batchspawner", "wrapspawner", "jupyterhub_moss", "jupyterhub_idle_culler")
    versions = _versions(layout.bin / "python", packages)
    # The servers' JupyterLab is the default environment's.
    default = environments_dir(profile) / profile.jupyter.default_environment.name / "bin" / "python"
    versions.update(_versions(default, ("jupyterlab", "jupyter_server")))
    proxy = run([PROXY, "--version"], check=False, env=hub_env())
    if proxy.returncode == 0:
        versions["configurable-http-proxy"] = proxy.stdout.strip()
    return versions


def _versions(python: Path, packages: tuple[str, ...]) -> dict[str, str]:
    script = (
        f"import importlib.metadata as m, json; print(json.dumps({{p: m.version(p) for p in {packages!r}}}))"
    )
    result = run([python, "-c", script], check=False, timeout=60)
    return json.loads(result.stdout) if result.returncode == 0 else {}
