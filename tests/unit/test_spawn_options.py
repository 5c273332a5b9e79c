"""The spawn form's options: what it offers and what it refuses, before anything is queued."""

from __future__ import annotations

import pytest

from hpc_handbook.profile import load_profile
from hpc_handbook.reference_site.hub import spawn_places
from hpc_handbook.reference_site.spawn_form import form_html
from hpc_handbook.reference_site.spawn_options import (
    SpawnOptionError,
    check_options,
    options_from_form,
    walltime_seconds,
)

PLACES = spawn_places(load_profile("site.yml"))


def test_places_are_the_login_node_and_the_jupyter_partitions():
    assert [(p.key, p.partition) for p in PLACES] == [
        ("login", None),
        ("interactive", "interactive"),
        ("batch", "batch"),
        ("gpu", "gpu"),
    ]


def test_a_place_offers_the_cpus_of_its_partitions_nodes():
    profile = load_profile("site.yml")
    for place in PLACES[1:]:
        assert place.max_cpus == profile.partition(place.partition).node_setup.cpus


def test_the_form_offers_every_place_and_names_each_limit():
    form = form_html(PLACES)
    for place in PLACES:
        assert f'<option value="{place.key}"' in form
    assert "interactive: up to 04:00:00, 1 node(s), 16 CPUs per node" in form
    assert "batch: up to 24:00:00, 4 node(s), 8 CPUs per node" in form
    assert 'name="extra_sbatch"' in form


def test_form_fields_become_checked_options():
    submitted = {"place": ["batch"], "walltime": ["02:00:00"], "nodes": ["2"], "cpus": ["4"],
                 "extra_sbatch": ["#SBATCH --mail-type=END\r\n\r\n#SBATCH --exclusive"]}  # fmt: skip
    assert check_options(options_from_form(submitted), PLACES) == {
        "place": "batch",
        "walltime": "02:00:00",
        "nodes": 2,
        "cpus": 4,
        "extra_sbatch": ["#SBATCH --mail-type=END", "#SBATCH --exclusive"],
    }


def test_the_login_node_takes_no_job_options():
    assert check_options({"place": "login"}, PLACES) == {"place": "login"}
    with pytest.raises(SpawnOptionError, match="apply to partitions, not to the login node"):
        check_options({"place": "login", "cpus": 4}, PLACES)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"place": "batch", "walltime": "1-00:00:01"}, "beyond partition batch's limit of 24:00:00"),
        ({"place": "batch", "walltime": "1:00"}, "expected HH:MM:SS"),
        ({"place": "batch", "walltime": "01:75:00"}, "minutes and seconds go up to 59"),
        ({"place": "batch", "nodes": "two"}, "nodes 'two': expected a whole number"),
        ({"place": "batch", "cpus": 0}, "cpus 0: expected at least 1"),
        ({"place": "batch", "cpus": 999}, "cpus 999 is beyond partition batch's limit of 8"),
        ({"place": "batch", "extra_sbatch": "#SBATCH -p largemem"}, "-p is set by the form's own fields"),
        ({"place": "batch", "extra_sbatch": "#SBATCH --x=1; rm -rf ~"}, "expected '#SBATCH --option=value'"),
        ({"place": "batch", "extra_sbatch": "#SBATCH --a\n" * 11}, "at most 10 lines"),
        ({"place": "largemem"}, "place 'largemem': expected one of login, interactive, batch, gpu"),
    ],
)
def test_refusals_name_the_option_and_the_limit(options, message):
    with pytest.raises(SpawnOptionError) as refused:
        check_options(options, PLACES)
    assert message in str(refused.value)


def test_walltime_days():
    assert walltime_seconds("1-02:03:04") == ((24 + 2) * 60 + 3) * 60 + 4
