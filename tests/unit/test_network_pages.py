"""What the pages and the scorecard say about slow and broken connections, from the network bench."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpc_handbook.book.evidence import Evidence
from hpc_handbook.book.network_page import network_markdown
from hpc_handbook.book.scorecard import criteria, evaluate
from hpc_handbook.data.network_profiles import link_profiles
from hpc_handbook.data.service_measurements import (
    CutFigures,
    NetworkFigures,
    ServiceMeasurements,
    SpawnTimes,
    Spread,
)
from hpc_handbook.profile import Profile, load_profile
from hpc_handbook.reference_site.network_bench import _figures, network_lines
from hpc_handbook.reference_site.network_browser import SessionTimes

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile(REPO / "site.yml")


def link(name: str, **steps: float | str | None) -> NetworkFigures:
    figures = {
        "login_s": 9.5,
        "spawn_s": 32.4,
        "lab_ready_s": 11.1,
        "cell_round_trip_s": 0.86,
        "lab_again_s": 11.9,
    }
    return NetworkFigures(
        profile=name,
        description="A weak mobile connection." if name == "poor" else "A campus network.",
        round_trip_ms=300 if name == "poor" else 20,
        loss_percent=1 if name == "poor" else 0,
        rate_mbit=2 if name == "poor" else 50,
        **(figures | steps),
    )


KEPT = CutFigures(
    profile="good", cut_s=60, reconnect_s=21.3, cells=2, edits=1, kernel_intact=True, saved=True
)


def measured(**update: object) -> ServiceMeasurements:
    base = ServiceMeasurements(
        site="RCC",
        date="2026-12-07",
        hub_version="5.5.4",
        spawns=[SpawnTimes(place="login", attempts=5, succeeded=5, median_s=2.5, p95_s=3.1)],
        load_accounts=1,
        load=Spread(attempts=1, succeeded=1, median_s=1, p95_s=1),
        network=[link("good", login_s=1.8, spawn_s=6.4, lab_ready_s=2.6), link("poor")],
        cut=KEPT,
    )
    return base.model_copy(update=update)


def test_the_log_in_page_gives_each_links_steps_and_what_to_expect_from_the_figures() -> None:
    text = "\n".join(network_markdown(measured()))
    assert "poor: A weak mobile connection. (300 ms round trip, 1 % loss, 2 Mbit/s)" in text
    assert "  - 10 s\n  - 32 s\n  - 11 s\n  - 0.9 s\n  - 12 s" in text
    # The first start is the three steps together; a cell answers quickly once JupyterLab is open.
    assert (
        "expect about 53 s from the login page to a JupyterLab" in text and "a cell answers in 0.9 s" in text
    )
    assert "got the cell's output by itself 21 s after the connection came back" in text


def test_a_cut_that_lost_something_says_what_and_a_failed_step_says_why() -> None:
    lost = KEPT.model_copy(update={"reconnect_s": None, "cells_lost": 1})
    failed = link(
        "poor", cell_round_trip_s=None, lab_again_s=None, failure="a cell's round trip, after 420 s: Timeout"
    )
    text = "\n".join(network_markdown(measured(cut=lost, network=[failed])))
    assert "not everything came back" in text and "the running cell's output never arrived" in text
    assert "1 of 2 cells' output missing from the saved notebook" in text
    assert "did not finish: a cell's round trip, after 420 s: Timeout" in text
    assert "expect about" not in text  # no advice from a link that did not finish


def test_runs_jupyterlab_dropped_are_counted_on_the_page_and_in_the_bench_only_when_there_were_any() -> None:
    assert not any("Shift+Enter" in line for line in network_markdown(measured()))
    assert not any("dropped" in line for line in network_lines(measured()))
    dropped = measured(
        network=[link("good", runs_dropped=1), link("poor")], cut=KEPT.model_copy(update={"runs_dropped": 1})
    )
    text = "\n".join(network_markdown(dropped))
    assert "JupyterLab ignored Shift+Enter 2 times in these measurements" in text
    assert "run it again" in text
    lines = network_lines(dropped)
    assert "1 run(s) dropped by JupyterLab" in lines[0] and "dropped" not in lines[1]
    assert "1 run(s) dropped by JupyterLab" in lines[2]


def test_a_machine_that_could_not_set_up_a_link_says_why_and_no_figure() -> None:
    skipped = measured(network=[], cut=None, network_skipped="no /dev/net/tun")
    [sentence] = network_markdown(skipped)
    assert sentence.endswith(
        "could not be measured over slow connections on the machine that measures it: no /dev/net/tun."
    )
    assert network_lines(skipped) == ["network: not measured: no /dev/net/tun"]
    assert "not been measured" in network_markdown(None)[0]


def test_slow_networks_are_rated_from_the_poor_link_and_the_cut(profile: Profile) -> None:
    criterion = next(c for c in criteria() if c.id == "access-slow-network")
    usable = evaluate(criterion, Evidence(profile=profile, service=measured()))
    assert usable.rating == "yes"
    assert "over a poor link (300 ms, 1 % loss, 2 Mbit/s): log in 10 s" in usable.evidence
    assert "a 60 s cut while a cell ran: the output back 21 s after the link, 0 of 2 cells" in usable.evidence
    lost = KEPT.model_copy(update={"edits_lost": 1})
    assert evaluate(criterion, Evidence(profile=profile, service=measured(cut=lost))).rating == "partly"
    slow = link("poor", cell_round_trip_s=5.0)
    both = evaluate(criterion, Evidence(profile=profile, service=measured(cut=lost, network=[slow])))
    assert both.rating == "no"
    skipped = evaluate(
        criterion, Evidence(profile=profile, service=measured(network=[], cut=None, network_skipped="no TUN"))
    )
    assert skipped.rating != "yes" and "no TUN" in skipped.evidence


def test_the_bench_prints_every_link_and_the_cut() -> None:
    lines = network_lines(measured())
    assert lines[1].startswith(
        "browser on a poor link (300 ms, 1 % loss, 2 Mbit/s): log in 9.5 s, start a server"
    )
    assert lines[2] == (
        "link cut for 60 s while a cell ran (good link): output back 21.3 s after the link, 0 of 2 cells "
        "and 0 of 1 edits lost, kernel state intact, notebook saved"
    )


def test_a_users_timed_steps_become_the_links_figures_step_for_step() -> None:
    times = SessionTimes(login_s=1.5, spawn_s=4.2, lab_ready_s=2.2, lab_again_s=2.8, cell_round_trip_s=0.1)
    times.runs_dropped = 1
    figures = _figures(link_profiles()["poor"], times, None)
    assert (figures.profile, figures.round_trip_ms, figures.loss_percent) == ("poor", 300, 1)
    assert figures.model_dump(include=set(vars(times))) == vars(times)
