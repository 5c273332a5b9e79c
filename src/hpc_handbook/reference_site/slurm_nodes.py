"""The reference site's Slurm nodes: their states, their slurmds, and bringing every one back to idle.

A slurmd can run and still not answer: after munged was killed and started again, one stayed
"not responding" until `site up` gave up. So `up` waits for every node as before, and a node
whose slurmd does not listen on its port, or that is still not ready after a grace period,
gets its slurmd restarted, once, with a line in the log that says so.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from hpc_handbook.processes import terminate
from hpc_handbook.reference_site.paths import ReferenceSiteError
from hpc_handbook.reference_site.slurm_conf import SiteNode
from hpc_handbook.reference_site.system import Log, find_processes, run

READY_NODE_STATES = ("idle", "mixed", "allocated", "completing")
#: How long every node has to become ready; a new slurmd registers within seconds.
NODES_TIMEOUT_S = 90.0
#: How long a node may stay not ready, with its slurmd running, before that slurmd is restarted.
GRACE_S = 15.0
#: A slurmd just started needs a moment to listen on its port: none is called deaf before this.
SETTLE_S = 3.0


def node_states() -> dict[str, str]:
    result = run(["sinfo", "--noheader", "--Node", "--format=%N %T"], check=False, timeout=20)
    if result.returncode != 0:
        return {}
    return dict(line.split(maxsplit=1) for line in result.stdout.splitlines() if line.strip())


def node_ready(state: str) -> bool:
    # A trailing '*' means the node does not respond; '~' or '#' mean powered down or powering up.
    return state.rstrip("+") in READY_NODE_STATES


def slurmd_pids() -> dict[str, int]:
    """{node: pid} of each running slurmd: each was started as `slurmd -N NODE`."""
    nodes = {}
    for pid in find_processes("slurmd"):
        try:
            arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-N" in arguments[:-1]:
            nodes[arguments[arguments.index(b"-N") + 1].decode()] = pid
    return nodes


def slurmd_listens(port: int) -> bool:
    """Whether a slurmd takes connections on its port (every node is on loopback here)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def resume_if_left_down(node: str, state: str) -> None:
    if state.startswith(("down", "drain")) and not state.endswith("*"):
        # slurmd answers but the node was left down or drained (e.g. by a test): take it back.
        run(["scontrol", "update", f"NodeName={node}", "State=RESUME"], check=False)


def to_restart(
    nodes: Sequence[SiteNode],
    states: Mapping[str, str],
    *,
    listening: Callable[[int], bool],
    waited_s: float,
    restarted: set[str],
) -> list[SiteNode]:
    """The nodes whose slurmd should be restarted now: not ready, and deaf or past the grace; once each."""
    return [
        node
        for node in nodes
        if node.name not in restarted
        and not node_ready(states.get(node.name, ""))
        and (waited_s >= GRACE_S or (waited_s >= SETTLE_S and not listening(node.port)))
    ]


def wait_for_nodes(
    nodes: Sequence[SiteNode],
    log: Log,
    *,
    restart: Callable[[SiteNode], None],
    failure: Callable[[str], str],
) -> None:
    """Every node ready in sinfo; a slurmd that does not answer is restarted once, and the log says why."""
    started = time.monotonic()
    restarted: set[str] = set()
    while True:
        states = node_states()
        for node in nodes:
            resume_if_left_down(node.name, states.get(node.name, ""))
        late = [node for node in nodes if not node_ready(states.get(node.name, ""))]
        if not late:
            return
        waited = time.monotonic() - started
        if waited > NODES_TIMEOUT_S:
            reasons = "; ".join(f"{n.name}: {failure(f'slurmd-{n.name}')}" for n in late)
            raise ReferenceSiteError(
                f"timed out after {NODES_TIMEOUT_S:.0f} s waiting for every node to be idle in sinfo: "
                f"{reasons}"
            )
        for node in to_restart(late, states, listening=slurmd_listens, waited_s=waited, restarted=restarted):
            state = states.get(node.name) or "missing from sinfo"
            log(f"the slurmd of node {node.name} does not answer ({state}): restarting it")
            restart(node)
            restarted.add(node.name)
        time.sleep(0.3)


def _step_job(pid: int) -> str | None:
    """The job id a `slurmstepd: [JOB.STEP]` process runs, from its title; None for another process."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return None
    match = re.match(r"slurmstepd: \[(\d+)\.", title)
    return match.group(1) if match else None


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def end_orphan_steps(log: Log) -> None:
    """End job steps that slurmds still run for jobs their slurmctld lost when it was killed.

    A slurmctld killed before it saved its state either forgets the jobs it started last and
    hands their ids out again, or remembers a running job as still pending and allocates it
    again. Either way the node that still runs the old job takes the new allocation for a
    duplicate and is drained. Such steps are ended (and a job remembered as pending is
    cancelled, since its run was lost) before the scheduler's first pass.
    """
    listed = run(["squeue", "--noheader", "--states=all", "--format=%i %T"], check=False, timeout=20)
    if listed.returncode != 0:
        return
    known = dict(line.split(maxsplit=1) for line in listed.stdout.splitlines() if len(line.split()) == 2)
    lost: set[int] = set()
    for pid in find_processes("slurmstepd"):
        job = _step_job(pid)
        if job is None or known.get(job) in ("RUNNING", "COMPLETING", "SUSPENDED"):
            continue
        if job in known:
            state = known[job].lower()
            log(f"a step of job {job} runs on, but slurmctld remembers that job as {state}: ending both")
            run(["scancel", job], check=False, timeout=20)
        else:
            log(f"a step of job {job} runs on, but slurmctld lost that job when it stopped: ending it")
            lost.add(int(job))
        terminate([*_descendants(pid), pid], grace=5)
    if lost:
        _pass_job_ids(max(lost), log)


def _pass_job_ids(last_lost: int, log: Log) -> None:
    """Hand out job ids up to a lost job's, so no new job takes an id a node still remembers."""
    while True:
        held = run(
            ["sbatch", "--parsable", "--hold", "--output=/dev/null", "--wrap=true"], check=False, timeout=20
        )
        job = held.stdout.strip().split(";")[0]
        if held.returncode != 0 or not job.isdigit():
            return
        run(["scancel", job], check=False, timeout=20)
        if int(job) >= last_lost:
            log(f"job ids up to {last_lost} handed out again, so no new job takes a lost job's id")
            return
