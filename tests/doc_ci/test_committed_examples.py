"""The doc CI over the handbook's own examples: what the book shows is what the site prints."""

from __future__ import annotations

import subprocess
import time

import pytest

from hpc_handbook.data.verification import VERIFICATION_KEY
from hpc_handbook.doc_ci.report import write_reports
from hpc_handbook.doc_ci.run.runner import run_examples
from hpc_handbook.examples.contract import discover_examples

from .conftest import REPO

pytestmark = [pytest.mark.site, pytest.mark.slow, pytest.mark.usefixtures("leaves_nothing_behind")]


#: Runs in a row on the unchanged site: a false alarm in any of them would reach an admin.
RUNS = 3


def account_leftovers(user: str, wait_s: float = 30) -> tuple[str, str]:
    """The account's Slurm jobs and processes once they had `wait_s` to end: none may remain."""
    deadline = time.monotonic() + wait_s
    while True:
        jobs = subprocess.run(
            ["squeue", "--noheader", f"--user={user}"], capture_output=True, text=True
        ).stdout
        processes = subprocess.run(["pgrep", "-a", "-u", user], capture_output=True, text=True).stdout
        if not (jobs.strip() or processes.strip()) or time.monotonic() > deadline:
            return jobs.strip(), processes.strip()
        time.sleep(0.5)


def test_every_example_passes_or_is_skipped_with_its_reason_run_after_run(profile, tmp_path):
    """Through the hub, as the doc CI's account in its own servers: as the book's readers run them."""
    assert profile.hub is not None, "the default profile names the reference site's hub"
    for number in range(1, RUNS + 1):
        run = run_examples(profile=profile, examples_dir=REPO / "examples", through_hub=True)
        paths = write_reports(run.results, profile=profile, directory=tmp_path / f"run-{number}")
        failures = "\n\n".join(f"{r.example} [{r.kernel}]: {r.reason}\n{r.diff}" for r in run.failed)
        assert not run.failed, (
            f"run {number} of {RUNS}: the site no longer matches the book "
            f"(report: {paths['markdown']}):\n{failures}"
        )
        for result in run.results:
            if result.status == "skipped":
                assert result.reason, "a skipped example says what the site lacks"
        assert account_leftovers(profile.hub.doc_ci_user) == ("", ""), f"run {number} left these behind"


def test_every_example_has_reference_outputs_from_a_refresh(profile):
    for example in discover_examples(REPO / "examples", profile):
        record = example.notebook.metadata.get(VERIFICATION_KEY)
        assert record, f"{example.path.name} has no outputs recorded by `nox -s refresh`"
        assert record["site"] == profile.site.short_name
