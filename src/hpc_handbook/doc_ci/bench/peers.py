"""`nox -s bench`: the runner against its strongest peers, side by side in one run.

Every contender runs on the same generated examples, whose reference outputs were
recorded on the site's kernel. The naive pipeline is what a book's CI usually does:
papermill on each notebook, one after the other, then `pytest --nbval` over the
results. The parallel peers are `pytest --nbmake` and `pytest --nbval-lax` spread over
the cores with pytest-xdist. The lower bound is each example's kernel start plus
execution, measured one at a time, summed, and divided by the cores: no runner on this
machine can beat it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from hpc_handbook.doc_ci.bench.dispatch import DispatchBenchFailed, format_dispatch_table, measure_dispatch
from hpc_handbook.doc_ci.bench.prose import measure_prose
from hpc_handbook.doc_ci.refresh import refresh_examples
from hpc_handbook.doc_ci.run.runner import default_workers, run_examples, site_jupyter_path
from hpc_handbook.examples.contract import ExampleMeta
from hpc_handbook.profile import Profile, load_profile

RUNNER = "runner"
LOWER_BOUND = "lower bound"


@dataclass(frozen=True)
class PeerContext:
    """What a peer's command lines are built from: its own copies of the examples."""

    notebooks: list[Path]
    work_dir: Path
    kernel: str
    short_name: str
    cores: int
    python: str = sys.executable


@dataclass(frozen=True)
class Peer:
    """A contender other than the runner: command lines run in order, and what they check."""

    name: str
    commands: Callable[[PeerContext], list[list[str]]]
    note: str  # may name {cores}, the processes pytest-xdist spreads the examples over


@dataclass(frozen=True)
class Timing:
    """One measured row of the table."""

    name: str
    seconds: float
    note: str


def _pytest(context: PeerContext, *options: str, notebooks: list[Path]) -> list[str]:
    """Build a pytest command line that ignores the project's and the user's settings."""
    return [
        context.python,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-W",
        "ignore",
        "--rootdir",
        str(context.work_dir),
        *options,
        *(str(path) for path in notebooks),
    ]


def executed_path(notebook: Path) -> Path:
    """Where the naive pipeline's papermill writes an executed notebook."""
    return notebook.with_name(f"executed-{notebook.name}")


def naive_commands(context: PeerContext) -> list[list[str]]:
    """Build papermill for each notebook, one after the other, then one serial `pytest --nbval`."""
    papermill = [
        [
            context.python,
            "-m",
            "papermill",
            "--log-level",
            "WARNING",
            "-k",
            context.kernel,
            "-p",
            "site_short_name",
            context.short_name,
            str(notebook),
            str(executed_path(notebook)),
        ]
        for notebook in context.notebooks
    ]
    executed = [executed_path(notebook) for notebook in context.notebooks]
    return [*papermill, _pytest(context, "--nbval", notebooks=executed)]


def nbmake_commands(context: PeerContext) -> list[list[str]]:
    """Build one `pytest --nbmake` over the cores, on the site's kernel."""
    options = ("--nbmake", f"--nbmake-kernel={context.kernel}", "-n", str(context.cores))
    return [_pytest(context, *options, notebooks=context.notebooks)]


def nbval_lax_commands(context: PeerContext) -> list[list[str]]:
    """Build one `pytest --nbval-lax` over the cores; the kernelspec metadata names the kernel."""
    # nbval makes each cell a test; loadscope keeps a notebook's cells on one worker, hence one kernel.
    options = ("--nbval-lax", "-n", str(context.cores), "--dist", "loadscope")
    return [_pytest(context, *options, notebooks=context.notebooks)]


PEERS = (
    Peer(
        name="naive",
        commands=naive_commands,
        note="papermill serially, then pytest --nbval serially: executes twice, compares every output",
    ),
    Peer(
        name="nbmake",
        commands=nbmake_commands,
        note="pytest --nbmake -n {cores}: executes only, compares no output (less work)",
    ),
    Peer(
        name="nbval-lax",
        commands=nbval_lax_commands,
        note="pytest --nbval-lax -n {cores} --dist loadscope: compares only cells marked"
        " # NBVAL_CHECK_OUTPUT, and these examples mark none (less work)",
    ),
)


def generate_examples(directory: Path, *, count: int, profile: Profile) -> list[Path]:
    """Write `count` small one-task examples on the site's first Python kernel."""
    kernel = next(k for k in profile.kernels if k.language == "python" and k.start == "local")
    paths = []
    for index in range(count):
        notebook = nbformat.v4.new_notebook()
        notebook.metadata = {
            "kernelspec": {"name": kernel.name, "display_name": kernel.display_name, "language": "python"},
            # No output depends on the node: `--dispatch slurm` may run them on the compute nodes.
            "handbook": ExampleMeta(
                audience="novice", kernels=[kernel.name], runs_on="any", timeout=120, owner="bench"
            ).model_dump(mode="json", exclude_defaults=True),
        }
        parameters = nbformat.v4.new_code_cell('site_short_name = "XX"')
        parameters.metadata["tags"] = ["parameters"]
        notebook.cells = [
            nbformat.v4.new_markdown_cell(f"# Bench example {index}"),
            parameters,
            nbformat.v4.new_code_cell(
                f"total = sum(range({1000 * (index + 1)}))\nprint(site_short_name, total)"
            ),
            nbformat.v4.new_code_cell("import math\nround(math.pi * total, 3)"),
            nbformat.v4.new_code_cell("[x * x for x in range(5)]"),
        ]
        path = directory / f"bench-{index:03d}.ipynb"
        nbformat.write(notebook, path)
        paths.append(path)
    return paths


class PeerFailed(Exception):
    """A peer's command exited non-zero, so its time would mean nothing."""


def failure_reason(output: str, *, lines: int = 15) -> str:
    """Pick what failed out of a command's output: pytest's summary lines, else its last lines."""
    # nbclient's exit-time tracebacks come after pytest's summary and would hide the real reason.
    summary = [line for line in output.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    return "\n".join(summary[:lines] or output.strip().splitlines()[-lines:])


def time_peer(peer: Peer, context: PeerContext, *, env: dict[str, str]) -> float:
    """Run a peer's command lines in order and return the wall seconds they took."""
    commands = peer.commands(context)
    started = time.perf_counter()
    for command in commands:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, cwd=context.work_dir, check=False
        )
        if done.returncode != 0:
            raise PeerFailed(
                f"{peer.name} failed (exit {done.returncode}) running {' '.join(command[:6])} ...:\n"
                f"{failure_reason(done.stdout + done.stderr)}"
            )
    return time.perf_counter() - started


def ratio(seconds: float, runner_seconds: float) -> str:
    """Format a time as a multiple of the runner's."""
    return f"{seconds / runner_seconds:.2f}x"


def format_table(timings: list[Timing], *, runner_seconds: float, lower_bound: float) -> str:
    """Lay the measured rows out as aligned text, each with its ratio to the runner."""
    rows = [("contender", "wall s", "vs runner", "note")]
    rows += [(t.name, f"{t.seconds:.1f}", ratio(t.seconds, runner_seconds), t.note) for t in timings]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [
        f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}".rstrip()
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.append("")
    lines.append(f"the runner takes {ratio(runner_seconds, lower_bound)} the lower bound's time")
    lines += [
        f"{t.name} takes {ratio(t.seconds, runner_seconds)} the runner's time"
        for t in timings
        if t.name not in (RUNNER, LOWER_BOUND)
    ]
    return "\n".join(lines)


def _peer_context(
    peer: Peer, sources: list[Path], *, tmp: Path, kernel: str, short_name: str, cores: int
) -> PeerContext:
    """Copy the examples into a folder of the peer's own, so no peer sees another's files."""
    work_dir = tmp / peer.name
    work_dir.mkdir()
    notebooks = [Path(shutil.copy2(source, work_dir / source.name)) for source in sources]
    return PeerContext(
        notebooks=notebooks, work_dir=work_dir, kernel=kernel, short_name=short_name, cores=cores
    )


def _time_runner(profile: Profile, examples_dir: Path, *, workers: int, cores: int) -> tuple[float, float]:
    """Time the runner, then run it serially for the lower bound; return both in seconds."""
    started = time.perf_counter()
    run = run_examples(profile=profile, examples_dir=examples_dir, workers=workers)
    runner_seconds = time.perf_counter() - started
    if run.failed:
        raise PeerFailed(f"the runner failed {len(run.failed)} examples: {run.failed[0].reason}")
    serial = run_examples(profile=profile, examples_dir=examples_dir, workers=1)
    if serial.failed:
        raise PeerFailed(f"the serial run failed {len(serial.failed)} examples: {serial.failed[0].reason}")
    return runner_seconds, sum(r.busy_seconds for r in serial.results) / cores


def _measure(
    profile: Profile, tmp: Path, *, count: int, workers: int, cores: int
) -> tuple[list[Timing], str]:
    """Generate the examples, record their references, and time every contender on them."""
    kernel = next(k.name for k in profile.kernels if k.language == "python" and k.start == "local")
    env = {
        **os.environ,
        "JUPYTER_PATH": os.pathsep.join(site_jupyter_path()),
        # pytest cuts its summary lines to the terminal's width; a wide one keeps a failing peer's reason.
        "COLUMNS": "300",
    }
    examples_dir = tmp / "examples"
    examples_dir.mkdir()
    (examples_dir / "sanitize.cfg").write_text(Path("examples/sanitize.cfg").read_text())
    sources = generate_examples(examples_dir, count=count, profile=profile)
    print(f"bench: {count} generated examples on kernel {kernel}, {cores} cores, {workers} workers")
    # Reference outputs come from the site, like every example's (not timed).
    refresh_examples(profile=profile, examples_dir=examples_dir)
    runner_seconds, lower_bound = _time_runner(profile, examples_dir, workers=workers, cores=cores)
    print(f"bench: runner took {runner_seconds:.1f} s", flush=True)
    timings = [
        Timing(RUNNER, runner_seconds, f"{workers} workers: executes once, compares every output"),
        Timing(LOWER_BOUND, lower_bound, f"sum of each example's kernel start + execution / {cores} cores"),
    ]
    for peer in PEERS:
        context = _peer_context(
            peer, sources, tmp=tmp, kernel=kernel, short_name=profile.site.short_name, cores=cores
        )
        seconds = time_peer(peer, context, env=env)
        print(f"bench: {peer.name} took {seconds:.1f} s", flush=True)
        timings.append(Timing(peer.name, seconds, peer.note.format(cores=cores)))
    try:
        dispatched, left_out = measure_dispatch(
            profile, examples_dir, workers=workers, run_root=tmp / "dispatch"
        )
    except DispatchBenchFailed as error:
        raise PeerFailed(str(error)) from None
    return timings, format_dispatch_table(dispatched, left_out)


def run_bench(*, count: int = 32, workers: int | None = None) -> int:
    """Time the runner and each peer on the same generated examples and print the table."""
    if count < 30:
        print("error: the bench needs at least 30 examples", file=sys.stderr)
        return 2
    profile = load_profile()
    workers = workers or default_workers()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="handbook-bench-") as tmp:
        try:
            timings, dispatch_table = _measure(profile, Path(tmp), count=count, workers=workers, cores=cores)
        except PeerFailed as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    by_name = {t.name: t.seconds for t in timings}
    print(format_table(timings, runner_seconds=by_name[RUNNER], lower_bound=by_name[LOWER_BOUND]))
    print(f"\nthe same examples over the doc CI's Slurm nodes ({workers} workers in all, on {cores} cores):")
    print(dispatch_table)
    print("\nthe prose check over the whole book, beside a clean build of it:")
    print(measure_prose(Path.cwd()), flush=True)
    return 0
