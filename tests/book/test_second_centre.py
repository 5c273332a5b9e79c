"""A second centre adopts the handbook without changing code, as the adoption page says.

With another centre's profile (other kernel, partition, module and filesystem names):
the reference site becomes that centre's, every example is refreshed on its kernels
into a copy of the examples, the doc CI passes on that copy, and the book built from
it with warnings as errors shows none of the default profile's names. The site is
then brought back to the default profile.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hpc_handbook.data.verification import VERIFICATION_KEY
from hpc_handbook.doc_ci.refresh import refresh_examples
from hpc_handbook.doc_ci.run.runner import run_examples
from hpc_handbook.profile import load_profile
from hpc_handbook.reference_site.lifecycle import up

from .helpers import REPO, TINY_PROFILE, Book, build, copy_book, default_site_leaks

pytestmark = [pytest.mark.site, pytest.mark.slurm, pytest.mark.slow, pytest.mark.book]


def quiet(message: str) -> None:
    pass


def _failures(results) -> list[str]:
    return [f"{r.example} [{r.kernel}]: {r.reason}\n{r.diff}" for r in results if r.status == "failed"]


def test_a_second_centre_refreshes_runs_and_builds_every_example(tmp_path: Path) -> None:
    default, tiny = load_profile(REPO / "site.yml"), load_profile(TINY_PROFILE)
    root = copy_book(tmp_path / "book")
    shutil.copy2(TINY_PROFILE, root / "site.yml")
    examples = root / "examples"
    try:
        up(tiny, log=quiet)
        refreshed = refresh_examples(profile=tiny, examples_dir=examples)
        broken = [r for r in refreshed if r.status == "failed" and not r.output_mismatch_only]
        assert not broken, _failures(broken)
        run = run_examples(profile=tiny, examples_dir=examples)
    finally:
        up(default, log=quiet)
    assert not run.failed, _failures(run.results)
    assert run.executions > 0
    for result in run.results:
        if result.status == "skipped":
            assert result.reason, "a skipped example says what the site lacks"

    html = build(root)
    leaks = default_site_leaks(Book(root=root, html=html))
    assert not leaks, f"the default profile shows in the second centre's book: {leaks}"
    tiny_kernels = {k.name for k in tiny.kernels}
    for path in sorted(examples.glob("*.ipynb")):
        record = json.loads(path.read_text(encoding="utf-8"))["metadata"]
        assert record[VERIFICATION_KEY]["site"] == tiny.site.short_name, path.name
        if record[VERIFICATION_KEY]["result"] == "passed":
            assert record["kernelspec"]["name"] in tiny_kernels, path.name
