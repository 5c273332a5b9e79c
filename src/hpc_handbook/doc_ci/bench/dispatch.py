"""The bench's second table: the local runner against `--dispatch slurm` over 1, 2 and 4 nodes.

Every row runs the same generated examples with the same number of workers in all,
shared between the nodes, twice, keeping the faster time, so the table shows what
dispatching costs (submitting the worker jobs, starting them, passing verdicts through
files) and how evenly the queue spreads. On the reference site the nodes share one
machine's cores, so more nodes cannot be faster here; on a real site each node brings
cores of its own.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from hpc_handbook.doc_ci.dispatch.jobs import DispatchSetup, partition_nodes
from hpc_handbook.doc_ci.run.runner import run_examples
from hpc_handbook.profile import Profile

NODE_COUNTS = (1, 2, 4)
#: Each row is run this often and keeps its fastest time: the machine's other work only slows a run.
REPEATS = 2


class DispatchBenchFailed(Exception):
    """A dispatched run failed examples, so its time would mean nothing."""


@dataclass(frozen=True)
class DispatchTiming:
    label: str
    nodes: int
    workers_per_node: int
    seconds: float
    #: How many runs each node's worker took, in node order, once per repeat; empty for the local runner.
    runs_per_node: tuple[tuple[int, ...], ...] = ()

    @property
    def spread(self) -> int:
        """How far apart the busiest and the idlest node were, in the most uneven repeat."""
        return max(max(counts) - min(counts) for counts in self.runs_per_node)


def _timed_run(
    profile: Profile, examples_dir: Path, *, workers: int, dispatch: DispatchSetup | None
) -> tuple[float, list[str | None]]:
    started = time.perf_counter()
    run = run_examples(profile=profile, examples_dir=examples_dir, workers=workers, dispatch=dispatch)
    seconds = time.perf_counter() - started
    if run.failed:
        where = f"over {len(dispatch.targets)} node(s)" if dispatch else "locally"
        raise DispatchBenchFailed(f"{len(run.failed)} examples failed {where}: {run.failed[0].reason}")
    return seconds, [r.node for r in run.results]


def measure_dispatch(
    profile: Profile, examples_dir: Path, *, workers: int, run_root: Path
) -> tuple[list[DispatchTiming], list[str]]:
    """Time the local runner, then each node count the doc CI's partition has; and what was left out."""
    partition = profile.doc_ci.dispatch_partition
    if partition is None:
        return [], ["dispatch: the site profile names no doc_ci.dispatch_partition"]
    nodes = partition_nodes(partition)
    local = min(_timed_run(profile, examples_dir, workers=workers, dispatch=None)[0] for _ in range(REPEATS))
    timings = [DispatchTiming("local", 1, workers, local)]
    left_out = []
    for count in NODE_COUNTS:
        if count > len(nodes):
            left_out.append(
                f"dispatch: {count} nodes left out, partition {partition!r} has {len(nodes)} that take jobs"
            )
            continue
        setup = DispatchSetup(
            targets=nodes[:count],
            workers_per_node=max(1, workers // count),
            walltime=profile.doc_ci.dispatch_walltime,
            run_root=run_root,
        )
        repeats = [_timed_run(profile, examples_dir, workers=workers, dispatch=setup) for _ in range(REPEATS)]
        seconds = min(seconds for seconds, _ in repeats)
        per_node = tuple(tuple(Counter(where)[t.node] for t in setup.targets) for _, where in repeats)
        timings.append(DispatchTiming("dispatch slurm", count, setup.workers_per_node, seconds, per_node))
        print(f"bench: dispatch over {count} node(s) took {seconds:.1f} s", flush=True)
    return timings, left_out


def format_dispatch_table(timings: list[DispatchTiming], left_out: list[str]) -> str:
    """Lay the rows out with each one's time against the local runner's."""
    if not timings:
        return "\n".join(left_out)
    local = timings[0].seconds
    rows = [("runner", "nodes", "workers/node", "wall s", "vs local", "runs per node")]
    for t in timings:
        spread = " / ".join(" ".join(str(n) for n in counts) for counts in t.runs_per_node) or "-"
        rows.append(
            (
                t.label,
                str(t.nodes),
                str(t.workers_per_node),
                f"{t.seconds:.1f}",
                f"{t.seconds / local:.2f}x",
                spread,
            )
        )
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(f"{cell:<{widths[c]}}" for c, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.append("")
    for t in timings[1:]:
        overhead = (t.seconds / local - 1) * 100
        lines.append(
            f"dispatch over {t.nodes} node(s): {overhead:+.0f} % against local at "
            f"{timings[0].workers_per_node} workers in all; runs per node differ by at most {t.spread}"
        )
    return "\n".join([*lines, *left_out])
