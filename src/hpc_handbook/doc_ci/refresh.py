"""Refresh reference outputs: the only way outputs get into `examples/`.

An admin runs this after a deliberate system change. Each example is executed on
the site, its outputs are sanitized (no user or host names, no tokens), and the
notebook is replaced atomically, so a failed refresh leaves the old one untouched.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from hpc_handbook.data.files import write_atomically
from hpc_handbook.data.snapshot import DEFAULT_SNAPSHOT, load_snapshot
from hpc_handbook.data.verification import VERIFICATION_KEY, RecordedPlace, VerificationRecord
from hpc_handbook.doc_ci.compare import cell_options, sanitize_outputs
from hpc_handbook.doc_ci.report import print_cleanup
from hpc_handbook.doc_ci.run.execute import JobResult
from hpc_handbook.doc_ci.run.runner import run_examples
from hpc_handbook.examples.contract import discover_examples
from hpc_handbook.examples.sanitize import Sanitizer, load_sanitizer
from hpc_handbook.profile import Profile


def _write_notebook(path: Path, notebook: nbformat.NotebookNode) -> None:
    """Validate and write a notebook atomically: a failed refresh leaves the old one whole."""
    nbformat.validate(notebook)
    text = nbformat.writes(notebook)
    write_atomically(path, text if text.endswith("\n") else text + "\n")


def skipped_notebook(original: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook without outputs: nothing ran here, so what it showed came from another run."""
    notebook = copy.deepcopy(original)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return notebook


def refreshed_notebook(
    original: nbformat.NotebookNode,
    result: JobResult,
    sanitize: Sanitizer,
    *,
    site: str,
    kernels: list[str],
    today: str,
    kernelspec: dict[str, str] | None = None,
    server: dict[str, str] | None = None,
) -> nbformat.NotebookNode:
    """The original notebook with the executed outputs, sanitized, and the site's parameter values.

    `kernelspec` names the site kernel the outputs came from, so the page and the downloaded
    notebook name this centre's kernel, not the one of the site that wrote the example.
    `server` is what the site's probe found the kernel and the Jupyter server to be (language and
    package versions); the executed notebook's own `language_info`, where it has one, wins.
    """
    notebook = copy.deepcopy(original)
    if kernelspec is not None:
        notebook.metadata["kernelspec"] = kernelspec
    executed = result.notebook
    assert executed is not None
    by_origin: dict[int, nbformat.NotebookNode] = {}
    injected_source = None
    for cell in executed.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            injected_source = cell.source
        origin = cell.metadata.get("handbook_origin")
        if origin is not None:
            by_origin[origin] = cell
    count = 0
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        if "parameters" in cell.metadata.get("tags", []) and injected_source is not None:
            # The committed parameters cell shows this site's values, so readers can copy it as it is.
            cell.source = injected_source
        ran = by_origin.get(index)
        if ran is None or cell_options(cell).skip:
            cell.outputs, cell.execution_count = [], None
            continue
        count += 1
        cell.outputs = sanitize_outputs(ran.outputs, sanitize)
        for output in cell.outputs:
            if "execution_count" in output:
                output["execution_count"] = count
        cell.execution_count = count
    record = VerificationRecord(
        date=today,
        site=site,
        kernels=kernels,
        result="passed",
        place=RecordedPlace(partition=result.partition),
        environment={**(server or {}), **kernel_environment(executed)},
    )
    notebook.metadata[VERIFICATION_KEY] = record.to_metadata()
    return notebook


def kernel_environment(executed: nbformat.NotebookNode) -> dict[str, str]:
    """The kernel's language and its version, as the kernel itself reported them while it ran."""
    info = executed.metadata.get("language_info") or {}
    name, version = info.get("name"), info.get("version")
    return {str(name): str(version)} if name and version else {}


def site_environment(profile: Profile, snapshot_path: Path = DEFAULT_SNAPSHOT) -> Environments:
    """Each kernel's language version and the users' Jupyter server packages, as the site's last
    probe found them; empty where it found nothing or probed another site."""
    snapshot = load_snapshot(snapshot_path)
    if snapshot is None or snapshot.site != profile.site.short_name:
        return Environments()
    languages = {
        name: {entry.language: entry.language_version}
        for name, entry in snapshot.kernels.items()
        if entry.language and entry.language_version
    }
    return Environments(kernels=languages, server=dict(snapshot.jupyter.packages))


@dataclass(frozen=True)
class Environments:
    """What a refresh records as an example's environment, from the site's last probe."""

    kernels: dict[str, dict[str, str]] = field(default_factory=dict)
    server: dict[str, str] = field(default_factory=dict)

    def of(self, kernel: str) -> dict[str, str]:
        return {**self.kernels.get(kernel, {}), **self.server}


def refresh_examples(
    *, profile: Profile, examples_dir: Path, names: list[str] | None = None, through_hub: bool = False
) -> list[JobResult]:
    """Re-execute examples and write their new reference outputs; return the verdicts.

    `through_hub`: as the doc CI's account in its servers, so the outputs are what users see.
    """
    examples = {e.name: e for e in discover_examples(examples_dir, profile, names)}
    run = run_examples(profile=profile, examples_dir=examples_dir, names=names, through_hub=through_hub)
    if run.cleanup.problems:
        print_cleanup(run.cleanup)  # what the run could not remove is said, never passed over
    # The run's own sanitizer also knows its temporary working folder.
    sanitize = run.sanitize or load_sanitizer(examples_dir / "sanitize.cfg")
    today = dt.date.today().isoformat()
    environments = site_environment(profile)
    by_example: dict[str, list[JobResult]] = {}
    for result in run.results:
        by_example.setdefault(result.example, []).append(result)
    for name, results in sorted(by_example.items()):
        example = examples[name]
        executed = [r for r in results if r.status != "skipped"]
        if not executed:
            notebook = skipped_notebook(example.notebook)
            record = VerificationRecord(
                date=today,
                site=profile.site.short_name,
                kernels=[r.kernel for r in results],
                result="skipped",
                reason=results[0].reason,
            )
            notebook.metadata[VERIFICATION_KEY] = record.to_metadata()
            _write_notebook(example.path, notebook)
            continue
        broken = [r for r in executed if r.status == "failed" and not r.output_mismatch_only]
        if broken:
            continue  # leave the old notebook untouched; the verdict says why
        own_kernel = example.notebook.metadata.get("kernelspec", {}).get("name")
        chosen = next((r for r in executed if r.kernel == own_kernel), executed[0])
        kernel = profile.kernel(chosen.kernel)
        spec = {"name": kernel.name, "display_name": kernel.display_name, "language": kernel.language}
        notebook = refreshed_notebook(
            example.notebook,
            chosen,
            sanitize,
            site=profile.site.short_name,
            kernels=[r.kernel for r in executed],
            today=today,
            kernelspec=spec,
            server=environments.of(chosen.kernel),
        )
        _write_notebook(example.path, notebook)
    return run.results
