"""Slurm of the reference site: slurm.conf from the profile, munge, the daemons, and its jobs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from hpc_handbook.profile import Partition, Profile
from hpc_handbook.reference_site.paths import (
    GENERATED_NOTE,
    JOBCOMP_LOG,
    MUNGE_KEY,
    SITE_LOG_DIR,
    SITE_RUN_DIR,
    SLURM_CONF,
    SLURMCTLD_STATE_DIR,
    SLURMD_SPOOL_DIR,
    ReferenceSiteError,
    site_slug,
)
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
from hpc_handbook.slurm import KERNEL_JOB_COMMENT_ENV as KERNEL_JOB_COMMENT_ENV
from hpc_handbook.slurm import parse_scontrol_oneliner

#: The node declares more CPUs than the hardware has (SlurmdParameters=config_overrides)
#: so that many one-CPU kernel jobs run at once on a small machine.
NODE_CPUS = 16
DEF_MEM_PER_CPU_MB = 1024
SLURM_DAEMONS = ("slurmctld", "slurmd")


def _megabytes(gigabytes: int) -> int:
    return gigabytes * 1024


def node_real_memory_mb(profile: Profile) -> int:
    """Memory the one node declares (nothing enforces it: there are no cgroups).

    On a real site each partition has nodes of its own; here all share one node, so
    it has room for a full-memory job in every partition at once, plus a default-sized
    job on each CPU, and a big batch job cannot starve the kernels.
    """
    partitions = sum(_megabytes(p.limits.memory_per_node_gb) for p in profile.partitions)
    return partitions + NODE_CPUS * DEF_MEM_PER_CPU_MB


#: Above Linux's default ephemeral ports (32768-60999), below the top of the port space.
SRUN_PORT_RANGE = "61000-62999"


def slurm_conf(profile: Profile, *, node_name: str) -> str:
    """slurm.conf for a one-node cluster with the profile's partitions and limits."""
    lines = [
        f"# slurm.conf of the {profile.site.name} reference site.",
        f"# {GENERATED_NOTE}",
        f"ClusterName={site_slug(profile)}",
        f"SlurmctldHost={node_name}(127.0.0.1)",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        "MpiDefault=none",
        "SwitchType=switch/none",
        f"StateSaveLocation={SLURMCTLD_STATE_DIR}",
        f"SlurmdSpoolDir={SLURMD_SPOOL_DIR}",
        f"SlurmctldPidFile={SITE_RUN_DIR / 'slurmctld.pid'}",
        f"SlurmdPidFile={SITE_RUN_DIR / 'slurmd.pid'}",
        f"SlurmctldLogFile={SITE_LOG_DIR / 'slurmctld.log'}",
        f"SlurmdLogFile={SITE_LOG_DIR / 'slurmd.log'}",
        "# No cgroups: the site runs in containers and VMs where they are not delegated.",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "# The job-completion log: the handbook reads waiting times from it; `sacct -c` reads it too.",
        "JobCompType=jobcomp/filetxt",
        f"JobCompLoc={JOBCOMP_LOG}",
        "SchedulerType=sched/backfill",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        f"DefMemPerCPU={DEF_MEM_PER_CPU_MB}",
        "# Reject a job that asks for more than its partition allows, instead of queueing it forever.",
        "EnforcePartLimits=ALL",
        "# Trust this file's CPUs and memory over the hardware: many 1-CPU kernels share a small machine.",
        "SlurmdParameters=config_overrides",
        "ReturnToService=2",
        "# Finished jobs leave squeue quickly; their record stays in the job-completion log.",
        "MinJobAge=2",
        "KillWait=5",
        "InactiveLimit=0",
        "# srun listens on ports outside the kernel's ephemeral range (ip_local_port_range): a port that",
        "# the hub or a Jupyter kernel picks at random is never one srun waits on for its job's output.",
        f"SrunPortRange={SRUN_PORT_RANGE}",
        "",
        f"NodeName={node_name} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} Sockets=1 CoresPerSocket={NODE_CPUS} "
        f"ThreadsPerCore=1 RealMemory={node_real_memory_mb(profile)} State=UNKNOWN",
        "",
    ]
    for partition in profile.partitions:
        lines += _partition_lines(partition)
    return "\n".join(lines) + "\n"


def _partition_lines(partition: Partition) -> list[str]:
    """One partition's line of slurm.conf, after comments saying what of the profile it leaves out."""
    limits = partition.limits
    notes = [partition.purpose]
    if not partition.jupyter:
        notes.append("Not reachable from Jupyter (jupyter: false in the profile).")
    if limits.gpus_per_node:
        notes.append(f"gpus_per_node={limits.gpus_per_node} is not replicated: the site has no GPUs.")
    return [
        *(f"# {note}" for note in notes),
        f"PartitionName={partition.name} Nodes=ALL Default={'YES' if partition.default else 'NO'} "
        f"MaxTime={limits.max_walltime} MaxNodes={limits.max_nodes} "
        f"MaxMemPerNode={_megabytes(limits.memory_per_node_gb)} State=UP",
    ]


def parse_slurm_partitions(conf_text: str) -> dict[str, dict[str, str]]:
    """The PartitionName lines of a slurm.conf, as {name: {key: value}}."""
    partitions = {}
    for line in conf_text.splitlines():
        if not line.startswith("PartitionName="):
            continue
        settings = dict(item.split("=", 1) for item in line.split())
        partitions[settings.pop("PartitionName")] = settings
    return partitions


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
    if find_processes("munged") and _munge_works():
        return
    stop_processes("munged")
    log("starting munged")
    run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], env=daemon_env())
    wait_for(_munge_works, timeout_s=15, what="munged to issue credentials")


def slurm_daemons_running() -> dict[str, bool]:
    return {daemon: bool(find_processes(daemon)) for daemon in SLURM_DAEMONS}


def node_states() -> dict[str, str]:
    result = run(["sinfo", "--noheader", "--Node", "--format=%N %T"], check=False, timeout=20)
    if result.returncode != 0:
        return {}
    return dict(line.split(maxsplit=1) for line in result.stdout.splitlines() if line.strip())


def partition_states() -> dict[str, tuple[str, str]]:
    """{partition: (availability, node state)}; sinfo marks the default partition with '*'."""
    result = run(["sinfo", "--noheader", "--format=%P %a %T"], check=False, timeout=20)
    if result.returncode != 0:
        return {}
    states = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            states[parts[0].rstrip("*")] = (parts[1], parts[2])
    return states


READY_NODE_STATES = ("idle", "mixed", "allocated", "completing")


def _node_ready(state: str) -> bool:
    # A trailing '*' means the node does not respond; '~' or '#' mean powered down or powering up.
    return state.rstrip("+") in READY_NODE_STATES


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
    JOBCOMP_LOG.unlink(missing_ok=True)


def stop_slurm() -> None:
    stop_processes("slurmd")
    stop_processes("slurmctld")


def start_slurm(profile: Profile, log: Log) -> None:
    """Run slurmctld and slurmd on the profile's slurm.conf, with nothing changed at run time."""
    node = node_name()
    conf_text = slurm_conf(profile, node_name=node)
    if state_cluster_name() not in (None, site_slug(profile)):
        log(f"the Slurm state belongs to cluster {state_cluster_name()}, not {site_slug(profile)}")
        stop_slurm()
        purge_slurm_state(log)
    for directory in (SLURMCTLD_STATE_DIR, SLURMD_SPOOL_DIR, SITE_LOG_DIR, SITE_RUN_DIR):
        directory.mkdir(parents=True, exist_ok=True)
    JOBCOMP_LOG.touch(exist_ok=True)
    changed = write_if_changed(SLURM_CONF, conf_text)
    running = slurm_daemons_running()
    if changed and any(running.values()):
        # Node and partition definitions change only on a restart; running jobs are recovered from state.
        log("slurm.conf changed: restarting slurmctld and slurmd")
        stop_slurm()
        running = slurm_daemons_running()
    if not running["slurmctld"]:
        log("starting slurmctld")
        _start_daemon("slurmctld", ["/usr/sbin/slurmctld"])
        try:
            wait_for(
                lambda: run(["scontrol", "ping"], check=False, timeout=20).returncode == 0,
                timeout_s=30,
                what="slurmctld to answer",
            )
        except ReferenceSiteError:
            raise ReferenceSiteError(f"slurmctld does not answer: {daemon_failure('slurmctld')}") from None
    if not running["slurmd"]:
        log("starting slurmd")
        _start_daemon("slurmd", ["/usr/sbin/slurmd", "-N", node])

    def node_idle_or_fixed() -> bool:
        state = node_states().get(node, "")
        if state.startswith(("down", "drain")) and not state.endswith("*"):
            # slurmd answers but the node was left down or drained (e.g. by a test): take it back.
            run(["scontrol", "update", f"NodeName={node}", "State=RESUME"], check=False)
        return _node_ready(state)

    try:
        wait_for(node_idle_or_fixed, timeout_s=60, what=f"node {node} to be idle in sinfo")
    except ReferenceSiteError as error:
        raise ReferenceSiteError(f"{error}: {daemon_failure('slurmd')}") from None
    converge_partitions(conf_text, log)
