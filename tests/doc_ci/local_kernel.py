"""Run examples with the doc CI's own executor on a python3 kernel of this environment, without a site.

The kernelspec lives in a temporary folder and runs this interpreter, as nbval's
`--nbval-current-env` does; nothing starts a Slurm job or touches the site's kernels.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager

from hpc_handbook.doc_ci.run.execute import ExecutionContext, JobResult, execute_example
from hpc_handbook.examples.contract import Example
from hpc_handbook.examples.sanitize import Sanitizer

KERNEL = "python3"


def local_kernels(folder: Path, argv: list[str] | None = None) -> KernelSpecManager:
    """A python3 kernelspec on this interpreter (or started by `argv`), and no other kernel."""
    spec = folder / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    argv = argv or [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "Python 3", "language": "python"})
    )
    return KernelSpecManager(kernel_dirs=[str(folder)])


def kernel_environment(tmp: Path) -> dict[str, str]:
    """This environment, with IPython's and Matplotlib's folders of its own, the font cache built.

    A kernel that builds Matplotlib's font cache says so on stderr, which would be an output.
    """
    environment = {**os.environ, "IPYTHONDIR": str(tmp / "ipython"), "MPLCONFIGDIR": str(tmp / "mpl")}
    if importlib.util.find_spec("matplotlib") is not None:
        code = "import matplotlib.font_manager"
        subprocess.run([sys.executable, "-c", code], env=environment, check=True, capture_output=True)
    return environment


def run_locally(
    runs: list[tuple[Example, Sanitizer]],
    tmp: Path,
    *,
    parameters: dict[str, Any] | None = None,
    kernel_argv: list[str] | None = None,
) -> list[JobResult]:
    """Execute each example once on a fresh local kernel, all at once, and judge it as the runner does.

    `parameters` are the site's values the examples' `parameters` cells may name; `kernel_argv`
    starts the kernel some other way than `python -m ipykernel_launcher`.
    """
    specs = local_kernels(tmp / "kernels", kernel_argv)
    environment = kernel_environment(tmp)

    async def everything() -> list[JobResult]:
        jobs = []
        for index, (example, sanitize) in enumerate(runs):
            workroot = tmp / f"work-{index}"
            workroot.mkdir()
            context = ExecutionContext(
                run_id=f"local:{index}",
                sanitize=sanitize,
                parameters=parameters or {},
                specs=specs,
                languages={KERNEL: "python"},
                workroot=workroot,
                environment=environment,
            )
            jobs.append(execute_example(example, KERNEL, context, job_index=index))
        return list(await asyncio.gather(*jobs))

    return asyncio.run(everything())
