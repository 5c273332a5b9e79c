"""The banner of an example page names the kernel, where it ran and what it ran with."""

from __future__ import annotations

from pathlib import Path

import nbformat

from hpc_handbook.book.verification import banner_text, verdict_for, versions_text
from hpc_handbook.data.examples_report import ExampleResult, ExamplesReport
from hpc_handbook.data.verification import RecordedPlace, VerificationRecord, verification_from_metadata
from hpc_handbook.doc_ci.refresh import kernel_environment, site_environment
from hpc_handbook.profile import load_profile

REPO = Path(__file__).resolve().parents[2]
TINY_PROFILE = REPO / "tests" / "profiles" / "tiny.yml"

ENVIRONMENT = {"jupyterlab": "4.5.6", "python": "3.11.2", "jupyter_server": "2.21.1"}


def record(**fields) -> VerificationRecord:
    return VerificationRecord(date="2026-12-06", site="RCC", kernels=["python3"], result="passed", **fields)


def test_the_record_keeps_the_login_node_and_the_environment_through_the_notebook() -> None:
    written = record(place=RecordedPlace(partition=None), environment=ENVIRONMENT).to_metadata()
    assert written["place"] == {"partition": None} and "reason" not in written
    again = verification_from_metadata({"handbook_verification": written}, file="x.ipynb")
    assert again is not None and again.place == RecordedPlace() and again.environment == ENVIRONMENT
    older = record().to_metadata()
    assert "place" not in older and "environment" not in older


def test_a_refreshed_example_names_its_kernel_partition_and_environment() -> None:
    verdict = verdict_for(
        "ex", record(place=RecordedPlace(partition="batch"), environment=ENVIRONMENT), None, "RCC"
    )
    title, kind, text = banner_text(verdict, "RCC")
    assert (title, kind) == ("Verified at this site", "tip")
    assert text == (
        "Verified on 2026-12-06 at RCC: kernel `python3`, in a job on the `batch` partition, with "
        "Python 3.11.2, JupyterLab 4.5.6 and Jupyter Server 2.21.1. "
        "Checked by the refresh that recorded these outputs: passed."
    )
    login = banner_text(verdict_for("ex", record(place=RecordedPlace()), None, "RCC"), "RCC")[2]
    assert "on the login node, in an environment the run did not record." in login


def test_an_older_record_says_what_it_did_not_record() -> None:
    text = banner_text(verdict_for("ex", record(), None, "RCC"), "RCC")[2]
    assert "kernel `python3`; where and with what it ran was not recorded then. Checked by" in text


def test_a_verdict_of_the_last_run_names_its_partition_and_the_outputs_environment() -> None:
    report = ExamplesReport(
        site="RCC",
        date="2026-12-07",
        results=[ExampleResult(example="ex", kernel="python3", status="passed", partition="interactive")],
    )
    verdict = verdict_for("ex", record(environment=ENVIRONMENT), report, "RCC")
    text = banner_text(verdict, "RCC")[2]
    assert "Verified on 2026-12-07 at RCC: kernel `python3`, in a job on the `interactive` partition." in text
    assert text.endswith(
        "The outputs below were recorded on 2026-12-06 with Python 3.11.2, JupyterLab 4.5.6 and "
        "Jupyter Server 2.21.1."
    )


def test_versions_name_the_language_first_and_unknown_components_by_their_own_name() -> None:
    assert (
        versions_text([("zeta", "1"), ("jupyterlab", "4"), ("R", "4.2")]) == "R 4.2, JupyterLab 4 and zeta 1"
    )
    assert versions_text([("bash", "5.2")]) == "Bash 5.2"


def test_the_kernels_language_and_version_come_from_the_executed_notebook() -> None:
    executed = nbformat.v4.new_notebook(metadata={"language_info": {"name": "python", "version": "3.11.2"}})
    assert kernel_environment(executed) == {"python": "3.11.2"}
    assert kernel_environment(nbformat.v4.new_notebook()) == {}


def test_a_refresh_records_the_kernels_language_and_the_servers_packages_from_the_probe() -> None:
    environment = site_environment(load_profile(REPO / "site.yml"), REPO / "book/data/snapshot.json")
    found = environment.of("python3")
    assert found.get("python", "").startswith("3.") and "jupyterlab" in found, found
    assert "python" not in environment.of("no-such-kernel")
    # Another centre's book: the committed snapshot is of this site, so nothing is recorded from it.
    assert site_environment(load_profile(TINY_PROFILE), REPO / "book/data/snapshot.json").of("python3") == {}
