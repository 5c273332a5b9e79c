"""`nox -s bench`: the runner against the naive pipeline, side by side in one run.

The naive pipeline is what a book's CI usually does: papermill on each notebook,
one after the other, then `pytest --nbval` over the results. The lower bound is each
example's kernel start plus execution, measured one at a time, summed, and divided
by the cores: no runner on this machine can beat it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from hpc_handbook.doc_ci.refresh import refresh_examples
from hpc_handbook.doc_ci.runner import default_workers, run_examples, site_jupyter_path
from hpc_handbook.profile import Profile, load_profile


def generate_examples(directory: Path, *, count: int, profile: Profile) -> list[Path]:
    """Write `count` small one-task examples on the site's first Python kernel."""
    kernel = next(k for k in profile.kernels if k.language == "python" and k.start == "local")
    paths = []
    for index in range(count):
        notebook = nbformat.v4.new_notebook()
        notebook.metadata = {
            "kernelspec": {"name": kernel.name, "display_name": kernel.display_name, "language": "python"},
            "handbook": {
                "audience": "novice",
                "kernels": [kernel.name],
                "runs_on": "login",
                "requires": [],
                "timeout": 120,
                "owner": "bench",
            },
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


def _naive_pipeline(
    paths: list[Path], executed_dir: Path, *, kernel: str, short_name: str, env: dict[str, str]
) -> None:
    for path in paths:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "papermill",
                "--log-level",
                "WARNING",
                "-k",
                kernel,
                "-p",
                "site_short_name",
                short_name,
                str(path),
                str(executed_dir / path.name),
            ],
            check=True,
            env=env,
            capture_output=True,
        )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval",
            "-o",
            "addopts=",
            "-W",
            "ignore",
            "--rootdir",
            str(executed_dir),
            *(str(executed_dir / p.name) for p in paths),
        ],
        check=True,
        env=env,
        capture_output=True,
        cwd=executed_dir,
    )


def run_bench(*, count: int = 32, workers: int | None = None) -> int:
    if count < 30:
        print("error: the bench needs at least 30 examples", file=sys.stderr)
        return 2
    profile = load_profile()
    workers = workers or default_workers()
    cores = os.cpu_count() or 1
    kernel = next(k.name for k in profile.kernels if k.language == "python" and k.start == "local")
    env = {**os.environ, "JUPYTER_PATH": os.pathsep.join(site_jupyter_path())}
    with tempfile.TemporaryDirectory(prefix="handbook-bench-") as tmp:
        examples_dir = Path(tmp) / "examples"
        examples_dir.mkdir()
        (examples_dir / "sanitize.cfg").write_text(Path("examples/sanitize.cfg").read_text())
        paths = generate_examples(examples_dir, count=count, profile=profile)
        print(f"bench: {count} generated examples on kernel {kernel}, {cores} cores, {workers} workers")
        # Reference outputs come from the site, like every example's (not timed).
        refresh_examples(profile=profile, examples_dir=examples_dir)

        started = time.perf_counter()
        run = run_examples(profile=profile, examples_dir=examples_dir, workers=workers)
        runner_seconds = time.perf_counter() - started
        if run.failed:
            print(
                f"error: the runner failed {len(run.failed)} examples: {run.failed[0].reason}",
                file=sys.stderr,
            )
            return 1

        serial = run_examples(profile=profile, examples_dir=examples_dir, workers=1)
        lower_bound = sum(r.busy_seconds for r in serial.results) / cores

        executed_dir = Path(tmp) / "naive"
        executed_dir.mkdir()
        started = time.perf_counter()
        _naive_pipeline(paths, executed_dir, kernel=kernel, short_name=profile.site.short_name, env=env)
        naive_seconds = time.perf_counter() - started

    print(f"naive (papermill serially, then pytest --nbval): {naive_seconds:7.1f} s")
    print(f"runner ({workers} workers):                        {runner_seconds:7.1f} s")
    print(f"lower bound (sum of kernel start + execution / {cores} cores): {lower_bound:5.1f} s")
    print(f"runner is {runner_seconds / lower_bound:.2f}x the lower bound")
    print(f"speed-up over the naive pipeline: {naive_seconds / runner_seconds:.2f}x")
    return 0
