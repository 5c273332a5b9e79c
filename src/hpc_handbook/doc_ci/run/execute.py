"""Execute one example on one kernel, once, on a fresh kernel, and judge its outputs.

papermill injects the site's parameters; nbclient runs the cells on a kernel this
module starts and always stops itself (nbclient's own setup installs signal handlers
per notebook, which would fight over Ctrl-C when several examples run at once); the
kernel itself, and where it runs, is `kernel`'s.
"""

from __future__ import annotations

import asyncio
import copy
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from papermill.parameterize import parameterize_notebook
from pydantic import ConfigDict, Field

from hpc_handbook.data.examples_report import CellDifference, ExampleResult, Status
from hpc_handbook.doc_ci.compare import RAISES_EXCEPTION_TAG, cell_options, judge_outputs
from hpc_handbook.doc_ci.run.kernel import (
    KERNEL_STARTUP_TIMEOUT,
    KernelRun,
    kernel_manager,
    start_kernel,
    stop_kernel,
    with_kernel_output,
)
from hpc_handbook.doc_ci.run.workspace import Keeper, remove_for_good
from hpc_handbook.examples.contract import Example
from hpc_handbook.examples.sanitize import Sanitizer
from hpc_handbook.slurm import KERNEL_JOB_COMMENT_ENV, cancel_jobs_named

RUN_ID_ENV = "HANDBOOK_RUN_ID"
JOB_NAME_PREFIX = "handbook-ci"


class JobResult(ExampleResult):
    """The verdict for one example on one kernel, with the notebook it executed (never in the report)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    notebook: nbformat.NotebookNode | None = Field(default=None, exclude=True, repr=False)

    @classmethod
    def for_example(
        cls, example: Example, kernel: str, status: Status, reason: str = "", **fields: Any
    ) -> JobResult:
        """A verdict that carries the example's page, owner, audience and placement."""
        return cls(
            example=example.name,
            kernel=kernel,
            status=status,
            reason=reason,
            page=example.page,
            owner=example.meta.owner,
            audience=example.meta.audience,
            partition=fields.pop("partition", example.partition),
            **fields,
        )

    def fail(self, reason: str, *, cell: int | None = None) -> None:
        """Make this a failure, with its reason and the cell it happened in (None: before the first)."""
        self.status, self.reason, self.cell = "failed", reason, cell


@dataclass
class ExecutionContext:
    run_id: str
    sanitize: Sanitizer
    parameters: dict[str, Any]
    specs: KernelSpecManager
    languages: dict[str, str]
    workroot: Path
    #: The site's login environment for a new account (see `hpc_handbook.login_environment`).
    environment: dict[str, str] = field(default_factory=dict)
    kernel_starts: int = 0
    #: Keeps failing examples' folders in the report folder; None keeps none.
    keeper: Keeper | None = None
    #: Every working folder that could not be removed, in words; the report names them.
    removal_problems: list[str] = field(default_factory=list)


def _prepare(
    example: Example, kernel: str, context: ExecutionContext
) -> tuple[nbformat.NotebookNode, list[int | None]]:
    """Inject parameters and drop skipped cells; map each executed cell to its original index.

    A cell that nbval's markers allow to raise, as a comment or a tag, gets the tag nbclient
    and the hub's runner honour, in this copy only.
    """
    notebook = copy.deepcopy(example.notebook)
    notebook.metadata.setdefault("papermill", {})  # papermill records the injected values there
    for index, cell in enumerate(notebook.cells):
        cell.metadata["handbook_origin"] = index
        tags = cell.metadata.setdefault("tags", [])  # papermill reads `metadata.tags` on every cell
        if (
            cell.cell_type == "code"
            and cell_options(cell).check_exception
            and RAISES_EXCEPTION_TAG not in tags
        ):
            tags.append(RAISES_EXCEPTION_TAG)
    parameters = {name: context.parameters[name] for name in example.parameter_names}
    notebook = parameterize_notebook(
        notebook,
        parameters,
        kernel_name=kernel,
        language=context.languages[kernel],
        comment="Site parameters",
    )
    notebook.cells = [c for c in notebook.cells if c.cell_type != "code" or not cell_options(c).skip]
    origins = [c.metadata.get("handbook_origin") for c in notebook.cells]
    return notebook, origins


def code_cells(notebook: nbformat.NotebookNode) -> Iterator[tuple[int, Any, int]]:
    """Each code cell in order: its position, the cell, and the execution count it gets."""
    code = (item for item in enumerate(notebook.cells) if item[1].cell_type == "code")
    for execution_count, (position, cell) in enumerate(code, start=1):
        yield position, cell, execution_count


def seconds_left(deadline: float) -> float:
    """The seconds until the example's deadline; TimeoutError once it has passed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    return remaining


def timed_out(example: Example, cell: int | None) -> str:
    return f"timed out after {example.meta.timeout} s (the example's timeout) in cell {cell}"


def _make_workdir(example: Example, workroot: Path) -> Path:
    """A fresh working directory for one run, with a copy of the examples' assets."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{example.name}-", dir=workroot))
    assets = example.path.parent / "assets"
    if assets.is_dir():
        shutil.copytree(assets, workdir / "assets")
    return workdir


def _kernel_environment(example: Example, context: ExecutionContext) -> dict[str, str]:
    return {
        **context.environment,
        RUN_ID_ENV: context.run_id,
        KERNEL_JOB_COMMENT_ENV: context.run_id,
        "HANDBOOK_EXAMPLE": example.name,
    }


def _error_summary(error: CellExecutionError, sanitize: Sanitizer) -> str:
    """The last line of a cell's error (its exception and message), sanitized."""
    text = str(error).strip()
    return sanitize(text.splitlines()[-1] if text else type(error).__name__)


def _notebook_client(
    notebook: nbformat.NotebookNode, km: AsyncKernelManager, *, kernel: str, workdir: Path
) -> NotebookClient:
    return NotebookClient(
        notebook,
        km=km,
        # The example's deadline is the one timeout; nbclient's per-cell one would race it.
        timeout=None,
        startup_timeout=KERNEL_STARTUP_TIMEOUT,
        kernel_name=kernel,
        resources={"metadata": {"path": str(workdir)}},
    )


async def _run_cells(
    example: Example,
    kernel: str,
    context: ExecutionContext,
    *,
    run: KernelRun,
    notebook: nbformat.NotebookNode,
    origins: list[int | None],
    result: JobResult,
) -> bool:
    """Start the kernel and run every code cell before the deadline; False when the kernel did not start.

    A cell that fails or runs out of time raises; `run.cell` names it.
    """
    with open(run.log_path, "wb") as log:
        context.kernel_starts += 1
        try:
            await start_kernel(run, _kernel_environment(example, context), log)
        except Exception as error:
            reason = f"kernel {kernel!r} failed to start: {type(error).__name__}: {error}".strip()
            result.fail(with_kernel_output(reason, run.log_path, context.sanitize))
            return False
        result.startup_seconds = time.monotonic() - run.started
        run.client.kc = run.kernel_client
        run.client.reset_execution_trackers()
        run.deadline = run.started + example.meta.timeout + result.startup_seconds
        for position, cell, execution_count in code_cells(notebook):
            run.cell = origins[position]
            remaining = seconds_left(run.deadline)
            await asyncio.wait_for(
                run.client.async_execute_cell(cell, position, execution_count=execution_count),
                timeout=remaining,
            )
        result.busy_seconds = time.monotonic() - run.started
    return True


async def execute_example(
    example: Example, kernel: str, context: ExecutionContext, *, job_index: int
) -> JobResult:
    """Run one example on one kernel and compare the result with the reference outputs."""
    result = JobResult.for_example(example, kernel, "passed")
    started = time.monotonic()
    notebook, origins = _prepare(example, kernel, context)
    workdir = _make_workdir(example, context.workroot)
    job_name = f"{JOB_NAME_PREFIX}-{job_index}-{context.run_id.split(':')[-1]}"
    try:
        context.specs.get_kernel_spec(kernel)
    except NoSuchKernel:
        result.fail(f"kernel {kernel!r} is not installed on this site")
        return result
    km = kernel_manager(example, kernel, context.specs, run_id=context.run_id, job_name=job_name)
    run = KernelRun(km, _notebook_client(notebook, km, kernel=kernel, workdir=workdir), workdir, started)
    completed = False
    try:
        completed = await _run_cells(
            example, kernel, context, run=run, notebook=notebook, origins=origins, result=result
        )
        if not completed:
            return result
    except (TimeoutError, CellTimeoutError):
        result.fail(timed_out(example, run.cell), cell=run.cell)
    except DeadKernelError:
        if run.past_deadline():
            # Cancelling nbclient at the deadline can surface as a dead kernel: it is the timeout.
            result.fail(timed_out(example, run.cell), cell=run.cell)
            return result
        died = f"the kernel died while running cell {run.cell}"
        result.fail(with_kernel_output(died, run.log_path, context.sanitize), cell=run.cell)
    except CellExecutionError as error:
        summary = _error_summary(error, context.sanitize)
        result.fail(f"cell {run.cell} raised an error: {summary}", cell=run.cell)
    finally:
        await stop_kernel(run)
        if example.partition is not None:
            # Ending the srun client does not end the kernel it started: cancel the job itself.
            await asyncio.to_thread(cancel_jobs_named, job_name)
        result.seconds = time.monotonic() - started
        if result.status == "failed" and context.keeper is not None:
            result.kept = context.keeper.keep_local(workdir, example=example.name, kernel=kernel)
        context.removal_problems += remove_for_good(workdir)
    result.notebook = notebook
    if completed:
        judge(result, example, notebook, origins, context.sanitize)
    return result


def judge(
    result: JobResult,
    example: Example,
    executed: nbformat.NotebookNode,
    origins: list[int | None],
    sanitize: Sanitizer,
) -> None:
    """Compare a completed run's outputs with the reference; a failure names every differing cell."""
    mismatches = judge_outputs(example, executed, origins, sanitize)
    if not mismatches:
        return
    reason = "; ".join(f"cell {m.cell_index}: {m.summary}" for m in mismatches)
    result.fail(reason, cell=mismatches[0].cell_index)
    result.diff = "\n".join(m.diff for m in mismatches if m.diff)
    result.differences = [CellDifference(cell=m.cell_index, summary=m.summary) for m in mismatches]
    result.output_mismatch_only = True
