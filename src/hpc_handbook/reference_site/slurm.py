"""Slurm of the reference site: slurm.conf from the profile, munge, the daemons, and its jobs."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from hpc_handbook.processes import terminate
from hpc_handbook.profile import Profile
from hpc_handbook.reference_site.accounting import controller_problems, ensure_projects, ensure_slurmdbd
from hpc_handbook.reference_site.containers import slurm_epilog
from hpc_handbook.reference_site.paths import (
    GRES_CONF,
    MUNGE_KEY,
    SITE_LOG_DIR,
    SITE_RUN_DIR,
    SLURM_CONF,
    SLURMCTLD_STATE_DIR,
    SLURMD_SPOOL_DIR,
    ReferenceSiteError,
    site_layout,
    site_slug,
)
from hpc_handbook.reference_site.slurm_conf import (
    SiteNode,
    gpu_device_files,
    gres_conf,
    parse_slurm_partitions,
    site_nodes,
    slurm_conf,
)
from hpc_handbook.reference_site.slurm_nodes import end_orphan_steps, slurmd_pids, wait_for_nodes
from hpc_handbook.reference_site.system import (
    Log,
    find_processes,
    node_name,
    remove,
    run,
    stop_processes,
    wait_for,
    write_if_changed,
)
from hpc_handbook.slurm import parse_scontrol_oneliner

SLURM_DAEMONS = ("slurmctld", "slurmd")


def _munge_works() -> bool:
    try:
        credential = subprocess.run(["munge", "-n"], capture_output=True, timeout=10, check=False)
        if credential.returncode != 0:
            return False
        decoded = subprocess.run(
            ["unmunge"], input=credential.stdout, capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return decoded.returncode == 0


def daemon_env() -> dict[str, str]:
    """The environment for the site's daemons: the caller's, without its job and run tags.

    A daemon started from a test or a doc-CI run would otherwise carry that run's tag,
    and the run's clean-up, which ends every process with its tag, would end the daemon.
    """
    return {k: v for k, v in os.environ.items() if not k.startswith("HANDBOOK_")}


def ensure_munge(log: Log) -> None:
    if not MUNGE_KEY.exists():
        log("creating the munge key")
        run(["mungekey", "--create", f"--keyfile={MUNGE_KEY}"])
        shutil.chown(MUNGE_KEY, "munge", "munge")
        MUNGE_KEY.chmod(0o600)
    for directory in (Path("/run/munge"), Path("/var/lib/munge"), Path("/var/log/munge")):
        directory.mkdir(parents=True, exist_ok=True)
        shutil.chown(directory, "munge", "munge")
    running = bool(find_processes("munged"))
    if running and _munge_works():
        return
    stop_processes("munged")
    log(
        "munged runs but issues no credential (munge -n | unmunge): restarting it"
        if running
        else "starting munged"
    )
    run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], env=daemon_env())
    wait_for(_munge_works, timeout_s=15, what="munged to issue credentials")


def slurm_daemons_running() -> dict[str, bool]:
    return {daemon: bool(find_processes(daemon)) for daemon in SLURM_DAEMONS}


def partition_states() -> dict[str, tuple[str, list[str]]]:
    """{partition: (availability, each node's state)}; sinfo marks the default partition with '*'."""
    result = run(["sinfo", "--noheader", "--Node", "--format=%P %a %T"], check=False, timeout=20)
    if result.returncode != 0:
        return {}
    states: dict[str, tuple[str, list[str]]] = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            states.setdefault(parts[0].rstrip("*"), (parts[1], []))[1].append(parts[2])
    return states


def slurm_minutes(value: str) -> int | None:
    """Minutes of a Slurm time limit ("MM", "HH:MM:SS", "D-HH:MM", ...); None for no limit."""
    if value.upper() in ("UNLIMITED", "INFINITE", ""):
        return None
    days, _, clock = value.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:
        # After "D-" the fields are hours, minutes, seconds.
        hours, minutes, seconds = ([*parts, 0, 0])[:3]
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    else:
        # Without days, one field is minutes and two are minutes and seconds.
        hours, (minutes, seconds) = 0, ([*parts, 0])[:2]
    return (int(days or 0) * 24 + hours) * 60 + minutes + (1 if seconds else 0)


def running_partitions() -> dict[str, dict[str, str]]:
    """Each partition as slurmctld runs it now, from `scontrol show partition --oneliner`."""
    result = run(["scontrol", "show", "partition", "--oneliner"], check=False, timeout=20)
    partitions = {}
    for settings in parse_scontrol_oneliner(result.stdout):
        if "PartitionName" in settings:
            partitions[settings.pop("PartitionName")] = settings
    return partitions


def _differs(key: str, wanted: str, running: str | None) -> bool:
    if running is None:
        return True
    if key == "MaxTime":
        return slurm_minutes(wanted) != slurm_minutes(running)
    return wanted.upper() != running.upper()


def partition_drift(
    wanted: Mapping[str, Mapping[str, str]], running: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, str]]:
    """The settings of each partition that slurmctld runs differently from slurm.conf."""
    drift = {}
    for name, settings in wanted.items():
        current = running.get(name, {})
        # Nodes=ALL is shown as the node list; the partitions always span every node here.
        changed = {
            key: value
            for key, value in settings.items()
            if key != "Nodes" and _differs(key, value, current.get(key))
        }
        if changed:
            drift[name] = changed
    return drift


def converge_partitions(conf_text: str, log: Log) -> None:
    """Put back what was changed at run time (`scontrol update`, `create`, `delete`) to slurm.conf."""
    wanted = parse_slurm_partitions(conf_text)
    running = running_partitions()
    for extra in sorted(set(running) - set(wanted)):
        log(f"deleting partition {extra} (not in slurm.conf)")
        run(["scontrol", "delete", f"PartitionName={extra}"])
    for name, changed in partition_drift(wanted, running).items():
        if name not in running:
            log(f"creating partition {name} (missing at run time)")
            run(
                [
                    "scontrol",
                    "create",
                    f"PartitionName={name}",
                    *(f"{k}={v}" for k, v in wanted[name].items()),
                ]
            )
            continue
        was = ", ".join(f"{key}={running[name].get(key)} -> {value}" for key, value in changed.items())
        log(f"partition {name}: putting back {was}")
        run(["scontrol", "update", f"PartitionName={name}", *(f"{k}={v}" for k, v in changed.items())])


def daemon_failure(daemon: str) -> str:
    """Why a daemon did not start: the last fatal or error lines of its own log."""
    try:
        lines = (SITE_LOG_DIR / f"{daemon}.log").read_text(errors="replace").splitlines()
    except OSError:
        return f"no log at {SITE_LOG_DIR / f'{daemon}.log'}"
    reasons = [line for line in lines if re.search(r"\b(fatal|error)\b", line)]
    return "; ".join(reasons[-3:]) or (lines[-1] if lines else "its log is empty")


def _start_daemon(daemon: str, command: Sequence[str]) -> None:
    result = run(command, check=False, env=daemon_env())
    if result.returncode != 0:
        raise ReferenceSiteError(f"{daemon} did not start: {daemon_failure(daemon)}")


def state_cluster_name() -> str | None:
    """The cluster whose jobs the state folder holds; slurmctld refuses to start for another."""
    try:
        return (SLURMCTLD_STATE_DIR / "clustername").read_text().strip() or None
    except OSError:
        return None


def purge_slurm_state(log: Log) -> None:
    """Forget every job and restart job ids at 1: the daemons must be stopped."""
    log("purging the Slurm state (job ids restart at 1)")
    for directory in (SLURMCTLD_STATE_DIR, SLURMD_SPOOL_DIR):
        remove(directory)


def stop_slurm() -> None:
    stop_processes("slurmd")
    stop_processes("slurmctld")


def _ensure_gpu_devices(node: SiteNode) -> None:
    """Character devices with /dev/null's numbers, so slurmd accepts them as the node's GPUs."""
    for device in gpu_device_files(node):
        if device.exists():
            continue
        device.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:
            # Where devices cannot be made, slurmd logs an error for a plain file but still counts it.
            device.touch()


def _restart_slurmd(node: SiteNode) -> None:
    pid = slurmd_pids().get(node.name)
    if pid is not None:
        terminate([pid], grace=15)
    _start_daemon(f"slurmd-{node.name}", ["/usr/sbin/slurmd", "-N", node.name])


def _slurmctld_answers(timeout_s: float) -> bool:
    try:
        wait_for(
            lambda: run(["scontrol", "ping"], check=False, timeout=20).returncode == 0,
            timeout_s=timeout_s,
            what="slurmctld to answer",
        )
    except ReferenceSiteError:
        return False
    return True


def _wait_for_projects(profile: Profile, log: Log) -> None:
    """Wait until a slurmctld just started knows every project member with its default project.

    It takes them from slurmdbd a moment after it answers; one that started from an older saved
    copy (after it was killed) is started once more, so that it loads them anew.
    """
    for attempt in range(2):
        try:
            wait_for(
                lambda: not controller_problems(profile), timeout_s=30, what="slurmctld to load the projects"
            )
            return
        except ReferenceSiteError:
            if attempt:
                raise ReferenceSiteError(
                    "slurmctld does not know the projects: " + "; ".join(controller_problems(profile)[:3])
                ) from None
        log("slurmctld did not load the projects from slurmdbd: starting it again")
        stop_processes("slurmctld")
        _start_daemon("slurmctld", ["/usr/sbin/slurmctld"])
        if not _slurmctld_answers(timeout_s=30):
            raise ReferenceSiteError(f"slurmctld does not answer: {daemon_failure('slurmctld')}")


def start_slurm(profile: Profile, log: Log) -> None:
    """Run slurmctld and one slurmd per node on the profile's slurm.conf, with nothing changed at run time."""
    conf_text = slurm_conf(profile, controller=node_name())
    if state_cluster_name() not in (None, site_slug(profile)):
        log(f"the Slurm state belongs to cluster {state_cluster_name()}, not {site_slug(profile)}")
        stop_slurm()
        purge_slurm_state(log)
    nodes = site_nodes(profile)
    for directory in (SLURMCTLD_STATE_DIR, SITE_LOG_DIR, SITE_RUN_DIR):
        directory.mkdir(parents=True, exist_ok=True)
    for node in nodes:
        (SLURMD_SPOOL_DIR / node.name).mkdir(parents=True, exist_ok=True)
        _ensure_gpu_devices(node)
    changed = write_if_changed(GRES_CONF, gres_conf(profile))
    if profile.containers:
        # Before slurm.conf names it: slurmd drains a node whose epilog cannot run.
        write_if_changed(site_layout(profile).slurm_epilog, slurm_epilog(profile), mode=0o755)
    changed = write_if_changed(SLURM_CONF, conf_text) or changed
    # Before slurmctld: it registers with slurmdbd when it starts, and takes the projects from it.
    ensure_slurmdbd(profile, log, daemon_env())
    ensure_projects(profile, log)
    running = slurm_daemons_running()
    if changed and any(running.values()):
        # Node and partition definitions change only on a restart; running jobs are recovered from state.
        log("slurm.conf changed: restarting slurmctld and every slurmd")
        stop_slurm()
        running = slurm_daemons_running()
    if running["slurmctld"] and not _slurmctld_answers(timeout_s=10):
        log("slurmctld runs but does not answer `scontrol ping`: restarting it")
        stop_processes("slurmctld")
        running["slurmctld"] = False
    if running["slurmctld"] and (problems := controller_problems(profile)):
        # slurmctld finds a member's uid and default project when it loads the projects; an account
        # made or remade since is unknown to it until it loads them again.
        log(f"slurmctld's projects are out of date ({'; '.join(problems[:3])}): restarting it")
        stop_processes("slurmctld")
        running["slurmctld"] = False
    if not running["slurmctld"]:
        log("starting slurmctld")
        _start_daemon("slurmctld", ["/usr/sbin/slurmctld"])
        if not _slurmctld_answers(timeout_s=30):
            raise ReferenceSiteError(f"slurmctld does not answer: {daemon_failure('slurmctld')}")
        # At once: its first scheduling pass, seconds after it starts, would allocate them again.
        end_orphan_steps(log)
        _wait_for_projects(profile, log)
    started = slurmd_pids()
    for stray in sorted(set(started) - {n.name for n in nodes}):
        log(f"stopping the slurmd of node {stray} (not in slurm.conf)")
        terminate([started[stray]], grace=15)
    missing = [node for node in nodes if node.name not in started]
    if missing:
        log(f"starting slurmd for {len(missing)} node(s): {', '.join(n.name for n in missing)}")
    for node in missing:
        _start_daemon(f"slurmd-{node.name}", ["/usr/sbin/slurmd", "-N", node.name])
    wait_for_nodes(nodes, log, restart=_restart_slurmd, failure=daemon_failure)
    converge_partitions(conf_text, log)


def settle_nodes(profile: Profile, log: Log) -> None:
    """Take back every node Slurm left out of service while the site came up, and wait until each is ready.

    A slurmctld killed in the middle of an allocation allocates that job again when it is back,
    and drains the node that still runs it ("Duplicate jobid"): seconds after it answers.
    """
    wait_for_nodes(site_nodes(profile), log, restart=_restart_slurmd, failure=daemon_failure)
