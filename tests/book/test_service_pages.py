"""Scope, limitations and scorecard: derived from the profile, following its changes, honest about gaps."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import html as lxml_html

from hpc_handbook.book.changelog_pages import human_date
from hpc_handbook.book.evidence import Evidence, measured_here
from hpc_handbook.book.limitations import handbook_limitations, service_limitations
from hpc_handbook.book.scorecard import MEASURES, criteria, evaluate, groups
from hpc_handbook.data.examples_report import ExamplesReport, Summary
from hpc_handbook.data.snapshot import KernelEntry, Modules, PartitionEntry, Snapshot
from hpc_handbook.data.waiting_times import WaitingTimes
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.profile import SCORECARD_CRITERIA, load_profile, parse_profile
from hpc_handbook.site_facts import build_vocabulary

from .helpers import REPO, TINY_PROFILE, WAITING_TIMES, Book

SCOPE = "book/reference/scope"
LIMITATIONS = "book/reference/limitations"
SCORECARD = "book/operate/scorecard"


def text_of(book: Book, docname: str) -> str:
    """The page's text as a reader sees it: no tags, entities resolved, whitespace collapsed."""
    return " ".join(lxml_html.fromstring(book.page(docname)).text_content().split())


@pytest.fixture(scope="module")
def profile():
    return load_profile(REPO / "site.yml")


def criterion(criterion_id: str):
    return next(c for c in criteria() if c.id == criterion_id)


# --- Without a build ---------------------------------------------------------------------------


def test_every_profile_criterion_is_worded_once() -> None:
    assert [c.id for c in criteria()] == list(SCORECARD_CRITERIA)
    assert len(set(SCORECARD_CRITERIA)) == len(SCORECARD_CRITERIA)
    assert {c.group for c in criteria()} == set(groups())
    assert all(c.text and c.pages for c in criteria())


def test_every_measure_measures_a_declared_criterion() -> None:
    assert set(MEASURES) <= set(SCORECARD_CRITERIA)


def test_limitations_follow_the_profile(profile) -> None:
    titles = [entry.title for entry in service_limitations(build_vocabulary(profile, None))]
    assert "Jupyter cannot run on the `largemem` partition" in titles
    # Containers: only the centre's images, through its container kernel; Apptainer is not there.
    assert {"Containers only from the centre's images", "No conda"} <= set(titles)
    assert "No containers" not in titles
    # Users may run their own JupyterLab, so extensions are limited only in the centre's environments.
    assert "The centre's JupyterLab environments have only the centre's extensions" in titles
    assert "You cannot install JupyterLab extensions" not in titles
    closed = profile.model_copy(
        update={"jupyter": profile.jupyter.model_copy(update={"own_environment": None})}
    )
    closed_titles = [entry.title for entry in service_limitations(build_vocabulary(closed, None))]
    assert "You cannot install JupyterLab extensions" in closed_titles
    # The gpu partition's GPUs are scheduled, not real: the page says that, not "no GPUs".
    assert "GPUs are handed out, but GPU code does not run" in titles and "No GPUs" not in titles
    assert "Your own kernels can break when the centre updates its software" in titles
    for entry in service_limitations(build_vocabulary(profile, None)):
        assert entry.workaround and entry.reviewed
        # Only what the administrators wrote down has a date of its own; the rest holds while the site does.
        assert (entry.since is None) == entry.derived


def test_limitations_of_a_profile_without_dates_say_so() -> None:
    tiny = load_profile(TINY_PROFILE)
    entries = service_limitations(build_vocabulary(tiny, None))
    assert "Jupyter cannot run on the `bigmem` partition" in [e.title for e in entries]
    assert "No GPUs" in [e.title for e in entries], "the tiny profile has no partition with GPUs"
    assert all(e.since is None and e.reviewed is None for e in entries)
    assert all(e.since and e.reviewed for e in handbook_limitations())


def test_measurements_beat_the_self_assessment_and_say_their_source(profile) -> None:
    def partition(state: str) -> PartitionEntry:
        return PartitionEntry(
            state=state,
            default=False,
            max_time="04:00:00",
            max_nodes=1,
            total_nodes=1,
            total_cpus=16,
            memory_per_node_mb=8192,
            gpus_per_node=0,
        )

    snapshot = Snapshot(
        site="RCC",
        taken=dt.date(2026, 11, 20),
        partitions={
            "interactive": partition("UP"),
            "batch": partition("DOWN"),
            "largemem": partition("UP"),
            "gpu": partition("UP"),
        },
        kernels={name: KernelEntry() for name in ("python3", "bash", "ir", "python3-stack")},
        modules=Modules(),
    )
    report = ExamplesReport(site="RCC", date="2026-11-21", summary=Summary(passed=5, failed=1, skipped=2))
    evidence = Evidence(
        profile=profile,
        snapshot=snapshot,
        examples_report=report,
        waiting_times=WaitingTimes.model_validate(WAITING_TIMES),
    )
    partitions = evaluate(criterion("resources-all-partitions"), evidence)
    assert partitions.rating == "partly"
    assert "3 of 4 (not: `largemem`)" in partitions.evidence and "saw 3 of 4 up" in partitions.evidence
    kernels = evaluate(criterion("custom-defaults"), evidence)
    assert (kernels.rating, kernels.source) == ("partly", "site profile and probe snapshot")
    assert f"started 4 of {len(profile.kernels)}" in kernels.evidence
    current = evaluate(criterion("docs-current"), evidence)
    assert current.rating == "partly" and "5 of 8 example runs passed" in current.evidence
    quick = evaluate(criterion("resources-quick"), evidence)
    assert quick.rating == "yes" and "`interactive` 20 s" in quick.evidence
    assert evaluate(criterion("resources-plan"), evidence).rating == "partly"


def test_unmeasured_criteria_fall_back_to_the_self_assessment_or_say_not_yet_known(profile) -> None:
    evidence = Evidence(profile=profile)
    current = evaluate(criterion("docs-current"), evidence)
    assert current.rating == "unknown" and current.evidence.startswith("Not yet measured")
    assessed = evaluate(criterion("access-under-load"), evidence)
    assert assessed.rating == "partly" and assessed.source.startswith("administrators' self-assessment")
    assert assessed.evidence.startswith("Not yet measured")
    tiny = load_profile(TINY_PROFILE)
    unassessed = evaluate(criterion("docs-community"), Evidence(profile=tiny))
    assert unassessed.rating == "unknown" and "Not yet assessed" in unassessed.evidence
    unmeasured = evaluate(criterion("access-slow-network"), Evidence(profile=tiny))
    assert unmeasured.rating == "unknown" and unmeasured.evidence.startswith("Not yet measured")


def test_measurements_of_another_site_are_ignored(profile) -> None:
    elsewhere = ExamplesReport(site="TNC", date="2026-11-21")
    here = ExamplesReport(site="RCC", date="2026-11-21")
    assert measured_here(elsewhere, profile) is None
    assert measured_here(here, profile) is here
    # The waiting times name no site: they come from this site's own scheduler.
    waits = WaitingTimes.model_validate(WAITING_TIMES)
    assert measured_here(waits, profile) is waits


def test_self_assessment_rejects_unknown_criteria_and_ratings(profile) -> None:
    data = profile.model_dump(mode="json")
    data["self_assessment"] = {
        "answers": {"access-teleport": {"rating": "yes", "note": "x", "component": "hub"}}
    }
    with pytest.raises(HandbookInputError, match=r"self_assessment\.answers\.access-teleport"):
        parse_profile(data, file="site.yml")
    data["self_assessment"] = {
        "answers": {"access-slow-network": {"rating": "maybe", "note": "x", "component": "hub"}}
    }
    with pytest.raises(HandbookInputError, match="rating"):
        parse_profile(data, file="site.yml")


def test_a_limitation_cannot_be_reviewed_before_it_was_noted(profile) -> None:
    data = profile.model_dump(mode="json")
    data["known_limitations"]["entries"][0]["reviewed"] = (dt.date(2026, 1, 1)).isoformat()
    with pytest.raises(HandbookInputError, match="reviewed"):
        parse_profile(data, file="site.yml")


# --- Built pages -------------------------------------------------------------------------------


def test_scope_says_what_to_run_where(default_book: Book) -> None:
    text = text_of(default_book, SCOPE)
    assert "What to run where" in text and "Login node" in text
    assert "sbatch --partition=largemem job.sh" in text
    assert "srun --partition=interactive --pty bash" in text
    assert "Machine learning on GPUs" in text and "get GPUs, but no GPU code runs on them" in text


def test_limitations_page_has_dates_workarounds_and_the_handbooks_own_limits(
    default_book: Book, profile
) -> None:
    text = text_of(default_book, LIMITATIONS)
    reviewed = human_date(profile.known_limitations.reviewed)
    assert f"last reviewed this page as a whole on {reviewed}" in text
    noted, derived = text.count("Noted "), text.count("Follows from the site as its profile")
    assert text.count("What to do instead:") == noted + derived and derived >= 7 and noted >= 2
    assert "Examples are recorded on a one-machine reference site" in text
    assert "no real GPUs and no Apptainer" in text


@pytest.mark.parametrize("docname", [SCOPE, LIMITATIONS])
def test_pages_link_the_issue_tracker(default_book: Book, profile, docname: str) -> None:
    assert f'href="{profile.support.issue_tracker}"' in default_book.page(docname)
    assert "&lt;https://" not in default_book.page(docname), "an autolink was shown as text"


def test_scorecard_rates_every_criterion_and_links_a_page(default_book: Book, profile) -> None:
    page = lxml_html.fromstring(default_book.page(SCORECARD))
    headings = [h.text_content().strip("#¶ ") for h in page.iter("h2")]
    assert [g for g in groups().values() if g in headings] == list(groups().values())
    rows = [row for table in page.find_class("handbook-scorecard") for row in table.find("tbody")]
    assert len(rows) == len(criteria())
    for row in rows:
        cells = row.findall("td")
        assert cells[1].find_class("sd-badge"), "every criterion has a rating"
        assert cells[3].xpath(".//a[contains(@class, 'internal')]"), "every criterion links a page"
    text = text_of(default_book, SCORECARD)
    assert "Partitions Jupyter can use: 3 of 4 (not: largemem)." in text
    reviewed = human_date(profile.self_assessment.reviewed)
    assert f"Source: administrators\u2019 self-assessment of the hub, reviewed {reviewed}." in text


def test_service_pages_follow_a_changed_profile(changed_profile_book: Book) -> None:
    scope = text_of(changed_profile_book, SCOPE)
    assert "Jupyter cannot reach the GPU partitions (gpu-a100)" in scope
    assert "This site has no GPUs" not in scope
    limitations = text_of(changed_profile_book, LIMITATIONS)
    assert "Jupyter cannot run on the gpu-a100 partition" in limitations
    assert "Notebooks cannot send email" in limitations
    assert "No GPUs" not in limitations and "No containers" not in limitations
    assert "You cannot install JupyterLab extensions" not in limitations
    assert "last reviewed this page as a whole on 3 December 2026" in limitations
    scorecard = text_of(changed_profile_book, SCORECARD)
    assert "Partitions Jupyter can use: 2 of 4 (not: largemem, gpu-a100)" in scorecard
    assert "Users can install JupyterLab extensions themselves." in scorecard
    assert "Apptainer runs container images built elsewhere." in scorecard
    assert "Tested from a train\u2019s mobile network." in scorecard
    assert "Median queue wait: interactive 20 s, batch 10 min" in scorecard
    assert "self-assessment was last reviewed on 4 December 2026" in scorecard
