"""Projects: from the profile into Slurm's accounting, and onto the spawn form with their limits."""

from __future__ import annotations

import pytest

from hpc_handbook.profile import load_profile
from hpc_handbook.reference_site.accounting import (
    QOS_FLAGS,
    AccountingState,
    ProjectLimitsInSlurm,
    accounting_drift,
    wanted_members,
    wanted_projects,
)
from hpc_handbook.reference_site.hub import spawn_places
from hpc_handbook.reference_site.slurm_answers import Project, user_projects
from hpc_handbook.reference_site.spawn_form import form_html
from hpc_handbook.reference_site.spawn_options import SpawnOptionError, check_options

from .test_profile import error_for, write_profile

PROFILE = load_profile("site.yml")
PLACES = spawn_places(PROFILE)
DEMO = Project("rcc-demo")
COURSE = Project("rcc-course", max_cpus=8, max_walltime="02:00:00")

# `sacctmgr --noheader --parsable2 show association format=account,user,grptres,maxwall`, as
# Slurm 22.05 prints it: the account's own row has its limits, a user's row inherits MaxWall only.
ASSOCIATIONS = """\
root|||
root|root||
rcc-course||cpu=8,mem=100G|02:00:00
rcc-course|rcc-novice||02:00:00
rcc-demo|||
rcc-demo|rcc-docci||
rcc-demo|rcc-novice||
"""
DEFAULTS = "root|root\nrcc-docci|rcc-demo\nrcc-novice|rcc-demo\n"


def test_a_users_projects_come_default_first_with_the_projects_own_limits():
    assert user_projects(ASSOCIATIONS, DEFAULTS, "rcc-novice") == [DEMO, COURSE]
    assert user_projects(ASSOCIATIONS, DEFAULTS, "rcc-docci") == [DEMO]
    assert user_projects(ASSOCIATIONS, DEFAULTS, "someone-else") == []


def test_short_and_long_maxwall_are_read_as_walltimes():
    rows = "short||cpu=2|30:00\nshort|u||30:00\nlong|||1-12:00:00\nlong|u||1-12:00:00\n"
    assert user_projects(rows, "u|long\n", "u") == [
        Project("long", None, "1-12:00:00"),
        Project("short", 2, "00:30:00"),
    ]


def test_the_form_asks_for_the_project_only_when_there_is_a_choice():
    assert 'name="project"' not in form_html(PLACES, projects=[DEMO])
    form = form_html(PLACES, projects=[DEMO, COURSE])
    assert '<option value="rcc-demo" selected>' in form
    assert '<option value="rcc-course">' in form
    assert "rcc-course: up to 8 CPUs at once, jobs up to 02:00:00" in form


def test_no_project_asked_for_charges_the_default():
    options = check_options({"place": "batch"}, PLACES, projects=[DEMO, COURSE])
    assert options["project"] == "rcc-demo"


def test_a_project_the_user_is_not_in_is_refused_with_their_projects():
    with pytest.raises(SpawnOptionError, match=r"project 'rcc-other': you are not a member; you can charge "
                       r"rcc-demo, rcc-course"):  # fmt: skip
        check_options({"place": "batch", "project": "rcc-other"}, PLACES, projects=[DEMO, COURSE])


def test_a_size_beyond_the_projects_cpus_is_refused_before_slurm_sees_it():
    asked = {"place": "batch", "project": "rcc-course", "nodes": 2, "cpus": 8}
    with pytest.raises(SpawnOptionError, match="16 CPUs, beyond project rcc-course's limit of 8 CPUs"):
        check_options(asked, PLACES, projects=[DEMO, COURSE])
    assert check_options({**asked, "nodes": 1}, PLACES, projects=[DEMO, COURSE])["cpus"] == 8


def test_a_walltime_beyond_the_projects_limit_is_refused():
    asked = {"place": "batch", "project": "rcc-course", "walltime": "03:00:00"}
    with pytest.raises(SpawnOptionError, match="beyond project rcc-course's limit of 02:00:00 per job"):
        check_options(asked, PLACES, projects=[DEMO, COURSE])
    # The same walltime in the default project, which has no such limit, is the partition's to judge.
    assert check_options({**asked, "project": "rcc-demo"}, PLACES, projects=[DEMO, COURSE])


def test_a_project_where_accounting_lists_none_is_an_error_and_none_asked_is_fine():
    assert "project" not in check_options({"place": "batch"}, PLACES, projects=[])
    with pytest.raises(SpawnOptionError, match="lists no project for you"):
        check_options({"place": "batch", "project": "rcc-demo"}, PLACES, projects=[])


def test_the_account_is_set_by_the_form_not_by_an_extra_line():
    with pytest.raises(SpawnOptionError, match="--account is set by the form"):
        check_options({"place": "batch", "extra_sbatch": "#SBATCH --account=rcc-other"}, PLACES)


def test_the_profile_makes_each_project_and_member():
    assert wanted_projects(PROFILE)["rcc-course"] == ProjectLimitsInSlurm(
        grp_tres="cpu=8", max_wall="02:00:00"
    )
    assert wanted_projects(PROFILE)["rcc-demo"] == ProjectLimitsInSlurm(grp_tres="", max_wall="")
    assert wanted_members(PROFILE)["rcc-novice"] == ["rcc-demo", "rcc-course"]
    assert wanted_members(PROFILE)["rcc-load01"] == ["rcc-demo"]


def matching_state() -> AccountingState:
    members = wanted_members(PROFILE)
    return AccountingState(
        projects=dict(wanted_projects(PROFILE)),
        members={user: set(projects) for user, projects in members.items()},
        default_projects={user: projects[0] for user, projects in members.items()},
        qos_flags=QOS_FLAGS,
    )


def test_accounting_that_matches_the_profile_has_no_drift():
    assert accounting_drift(PROFILE, matching_state()) == []


def test_each_change_behind_the_profiles_back_is_named():
    state = matching_state()
    state.projects["rcc-course"] = ProjectLimitsInSlurm(grp_tres="cpu=64", max_wall="02:00:00")
    state.projects["rcc-extra"] = ProjectLimitsInSlurm(grp_tres="", max_wall="")
    state.members["rcc-novice"] = {"rcc-demo"}
    state.members["intruder"] = {"rcc-demo"}
    state.default_projects["rcc-docci"] = "rcc-course"
    drift = accounting_drift(PROFILE, AccountingState(**{**state.__dict__, "qos_flags": ""}))
    assert drift == [
        "QOS normal has flags none, not DenyOnLimit",
        "project rcc-course has GrpTRES=cpu=64 MaxWall=02:00:00, "
        "the profile says GrpTRES=cpu=8 MaxWall=02:00:00",
        "project rcc-extra is not in the profile",
        "user rcc-novice is in rcc-demo, not rcc-demo, rcc-course",
        "user rcc-docci's default project is rcc-course, not rcc-demo",
        "user intruder is not a site account",
    ]


def test_an_accounts_unknown_project_is_named_with_the_projects(tmp_path):
    def edit(data):
        data["reference_site"]["users"][0]["more_projects"] = ["rcc-nowhere"]

    error = error_for(write_profile(tmp_path, edit))
    assert error.where == "reference_site.users[0].more_projects"
    assert "unknown project 'rcc-nowhere'; expected one of projects: rcc-demo, rcc-course" in error.problem


def test_a_project_limit_must_be_a_walltime(tmp_path):
    error = error_for(write_profile(tmp_path, lambda d: d["projects"][1]["limits"].update(max_walltime="2h")))
    assert error.where == "projects[1].limits.max_walltime"


def test_pages_can_state_a_projects_facts_from_the_profile():
    from hpc_handbook.site_facts import FactAbsent, UnknownFact, build_vocabulary, look_up

    vocabulary = build_vocabulary(PROFILE, None)
    assert look_up(vocabulary, "project names").value == "rcc-demo, rcc-course"
    assert look_up(vocabulary, "project limited name").value == "rcc-course"
    assert look_up(vocabulary, "project rcc-course max_walltime").value == "02:00:00"
    with pytest.raises(FactAbsent, match="no max_cpus of its own"):
        look_up(vocabulary, "project rcc-demo max_cpus")
    with pytest.raises(UnknownFact, match="this site has: rcc-course, rcc-demo"):
        look_up(vocabulary, "project rcc-nowhere name")
