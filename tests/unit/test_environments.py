"""JupyterLab environments and the user's own start-up script: the profile, the form, the checks,
the reference site's packages, drift, changes, facts, limitations and the scorecard."""

from __future__ import annotations

import datetime as dt
import os
import pwd
from pathlib import Path

import pytest

from hpc_handbook.book.evidence import Evidence
from hpc_handbook.book.limitations import service_limitations
from hpc_handbook.book.scorecard import evaluate_all
from hpc_handbook.changes.detect import snapshot_changes
from hpc_handbook.data.snapshot import FormPlace, HubService, Jupyter, Snapshot
from hpc_handbook.data.verification import VerificationRecord
from hpc_handbook.drift.hub import environment_drift
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.probe.hub import parse_spawn_form
from hpc_handbook.profile import OWN_ENVIRONMENT, Profile, load_profile, parse_profile
from hpc_handbook.reference_site.hub import spawn_places
from hpc_handbook.reference_site.own_environment import script_problem, version_problem
from hpc_handbook.reference_site.paths import ReferenceSiteError
from hpc_handbook.reference_site.server_environment import environment_packages, form_environments
from hpc_handbook.reference_site.slurm_answers import idle_cpus, partitions_down, slurm_refusal
from hpc_handbook.reference_site.spawn_form import form_html
from hpc_handbook.reference_site.spawn_options import SpawnOptionError, check_options
from hpc_handbook.site_facts import FactAbsent, UnknownFact, build_vocabulary, look_up

from .site_snapshot import matching_snapshot

REPO = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 12, 6)


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile(REPO / "site.yml")


@pytest.fixture(scope="module")
def tiny() -> Profile:
    return load_profile(REPO / "tests" / "profiles" / "tiny.yml")


def with_jupyter(profile: Profile, **jupyter: object) -> Profile:
    data = profile.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["jupyter"] = jupyter
    return parse_profile(data, file="site.yml")


# --- The profile --------------------------------------------------------------------------


def test_the_default_environment_comes_first_and_a_profile_without_any_has_one(profile, tiny) -> None:
    assert profile.jupyter.offered[0].name == profile.jupyter.default_environment.name
    assert profile.jupyter.default_environment.default
    assert [e.name for e in tiny.jupyter.offered] == ["default"]
    assert tiny.jupyter.own_environment is None and tiny.jupyter.idle_timeout_minutes is None


def test_a_retired_environment_leaves_the_form_but_never_the_default(profile) -> None:
    previous = profile.jupyter.offered[1]
    assert previous.retires is not None
    assert previous in profile.jupyter.available(TODAY)
    later = profile.jupyter.available(previous.retires)
    assert previous not in later and profile.jupyter.default_environment in later


@pytest.mark.parametrize(
    ("jupyter", "message"),
    [
        ({"environments": [{"name": "a", "label": "A"}, {"name": "a", "label": "B"}]}, "differ"),
        ({"environments": [{"name": OWN_ENVIRONMENT, "label": "A"}]}, "differ"),
        (
            {
                "environments": [
                    {"name": "a", "label": "A", "default": True},
                    {"name": "b", "label": "B", "default": True},
                ]
            },
            "one default",
        ),
        ({"extensions": ["jupyterlab-lmod"], "environments": [{"name": "a", "label": "A"}]}, "under it"),
        ({"own_environment": {"script": "/etc/start"}}, "inside the home"),
        ({"own_environment": {"script": "../other/start"}}, "inside the home"),
        ({"environments": [{"name": "A B", "label": "A"}]}, "jupyter.environments"),
        ({"idle_timeout_minutes": 1}, "idle_timeout_minutes"),
    ],
)
def test_a_bad_jupyter_section_names_the_key(profile, jupyter, message) -> None:
    with pytest.raises(HandbookInputError, match=message) as error:
        with_jupyter(profile, **jupyter)
    assert error.value.exit_code == 2


# --- The spawn form -----------------------------------------------------------------------


def test_the_form_offers_each_environment_the_default_first_and_the_own_script(profile) -> None:
    environments = form_environments(profile, TODAY)
    form = parse_spawn_form(f"<form>{form_html(spawn_places(profile), environments)}</form>")
    assert list(form.environments) == [e.name for e in profile.jupyter.available(TODAY)] + [OWN_ENVIRONMENT]
    assert "JupyterLab environment" in form.labels
    assert form.environments[OWN_ENVIRONMENT] == "My own environment (~/.jupyter/start-server)"


def test_a_site_with_one_environment_shows_no_environment_field(tiny) -> None:
    form = parse_spawn_form(f"<form>{form_html(spawn_places(tiny), form_environments(tiny, TODAY))}</form>")
    assert form.environments == {} and "JupyterLab environment" not in form.labels


def test_options_name_the_default_environment_unless_another_is_asked_for(profile) -> None:
    places, environments = spawn_places(profile), form_environments(profile, TODAY)
    assert check_options({}, places, environments)["environment"] == environments[0].key
    chosen = check_options({"environment": OWN_ENVIRONMENT}, places, environments)
    assert chosen == {"place": places[0].key, "environment": OWN_ENVIRONMENT}
    with pytest.raises(
        SpawnOptionError, match=r"environment 'lab-3': this site offers 2026-12 \(JupyterLab 4.5"
    ):
        check_options({"environment": "lab-3"}, places, environments)


def test_each_environment_keeps_its_settings_apart(profile) -> None:
    environments = form_environments(profile, TODAY)
    folders = [e.settings for e in environments if e.script is None]
    assert len(set(folders)) == len(folders) == len(profile.jupyter.available(TODAY))
    own = environments[-1]
    assert own.script == ".jupyter/start-server" and own.settings is None


# --- The reference site's environments ------------------------------------------------------


def test_each_environment_gets_its_jupyterlab_and_extensions_made_for_it(profile) -> None:
    current, previous = profile.jupyter.offered
    assert "jupyterlab==4.5.6" in environment_packages(profile, current)
    old = environment_packages(profile, previous)
    assert {"jupyterlab==4.2.7", "jupyterlmod==5.2.2", "jupyter-server-proxy==4.4.0"} <= set(old)
    # The hub's single-user server in every environment: its major version must match the hub's.
    assert all("jupyterhub==5.5.4" in environment_packages(profile, e) for e in profile.jupyter.offered)


def test_an_extension_without_a_release_for_the_environments_jupyterlab_is_refused(profile) -> None:
    environments = [{"name": "old", "label": "Old", "jupyterlab": "3.6.8", "extensions": ["jupyterlab-lmod"]}]
    changed = with_jupyter(profile, environments=environments, server_proxy_allowed=[])
    with pytest.raises(ReferenceSiteError, match=r"no release of jupyterlab-lmod for JupyterLab 3\.6"):
        environment_packages(changed, changed.jupyter.offered[0])


# --- The hub's checks of a start-up script --------------------------------------------------


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "start-server"
    path.write_text('#!/bin/bash\nexec jupyterhub-singleuser "$@"\n')
    path.chmod(0o700)
    return path


def test_a_good_script_passes(script: Path) -> None:
    assert script_problem(str(script), "~/start-server", os.getuid()) is None


def test_each_bad_script_is_refused_with_what_to_do(script: Path, tmp_path: Path) -> None:
    shown, me = "~/start-server", os.getuid()
    assert "does not exist" in (script_problem(str(tmp_path / "none"), shown, me) or "")
    assert "is not a file" in (script_problem(str(tmp_path), shown, me) or "")
    script.chmod(0o722)
    assert "chmod go-w" in (script_problem(str(script), shown, me) or "")
    script.chmod(0o600)
    assert "chmod u+x" in (script_problem(str(script), shown, me) or "")
    script.chmod(0o700)
    other = pwd.getpwnam("nobody").pw_uid
    assert "belongs to" in (script_problem(str(script), shown, other) or "")


@pytest.mark.parametrize(
    ("returncode", "output", "expected"),
    [
        (0, "5.5.4\n", None),
        (0, "Loading modules\n5.3.0\n", None),
        (0, "4.1.6\n", "this hub is 5.5.4"),
        (127, "jupyterhub-singleuser: command not found\n", "ended with status 127"),
        (0, "", "said nothing"),
        (None, "", "did not end within"),
    ],
)
def test_the_version_the_script_answers_must_be_the_hubs_major_version(returncode, output, expected) -> None:
    problem = version_problem(returncode, output, "~/start-server", "5.5.4")
    assert problem is None if expected is None else expected in (problem or "")


# --- Probe, drift and changes ---------------------------------------------------------------


def probed(profile: Profile, **changes: object) -> Snapshot:
    snapshot = matching_snapshot(profile)
    environments = form_environments(profile, TODAY)
    jupyter = {
        e.name: Jupyter(source="users-server", packages={"jupyterlab": e.jupyterlab or "4.5.6"})
        for e in profile.jupyter.offered
    }
    hub = HubService(
        url="http://127.0.0.1:8000",
        version="5.5.4",
        form_environments=[FormPlace(value=e.key, label=e.label) for e in environments],
        environments=jupyter,
    )
    return snapshot.model_copy(update={"hub": hub.model_copy(update=changes)})


def test_environments_as_declared_are_no_drift_but_a_missing_or_older_one_is(profile) -> None:
    plain = profile.model_copy(update={"jupyter": profile.jupyter.model_copy(update={"environments": [
        e.model_copy(update={"extensions": []}) for e in profile.jupyter.environments
    ]})})  # fmt: skip
    snapshot = probed(plain)
    assert environment_drift(plain, snapshot, TODAY) == []
    gone = probed(
        plain, form_environments=[e for e in snapshot.hub.form_environments if e.value != "2026-06"]
    )
    assert [(d.name, d.check) for d in environment_drift(plain, gone, TODAY)] == [("2026-06", "offered")]
    older = dict(snapshot.hub.environments)
    older["2026-12"] = Jupyter(source="users-server", packages={"jupyterlab": "4.5.5"})
    found = environment_drift(plain, probed(plain, environments=older), TODAY)
    assert [(d.name, d.check) for d in found] == [("2026-12", "jupyterlab")]
    assert "4.5.5" in found[0].message


def test_an_environment_that_comes_goes_or_changes_is_a_change(profile) -> None:
    before = probed(profile)
    after_environments = dict(before.hub.environments)
    after_environments["2026-06"] = Jupyter(source="users-server", packages={"jupyterlab": "4.2.8"})
    after = probed(
        profile,
        environments=after_environments,
        form_environments=[*before.hub.form_environments, FormPlace(value="2027-06", label="JupyterLab 4.6")],
    )
    changes = {c.name: c for c in snapshot_changes(before, after) if c.kind == "environment"}
    assert set(changes) == {"2026-06", "2027-06"}
    assert changes["2027-06"].change_type == "added" and changes["2027-06"].came_or_went
    assert "jupyterlab: 4.2.7 → 4.2.8" in changes["2026-06"].text() or "4.2.8" in changes["2026-06"].text()


# --- Facts, limitations, scorecard ----------------------------------------------------------


def test_facts_name_the_environments_and_the_own_script(profile, tiny) -> None:
    site = build_vocabulary(profile, None)
    assert look_up(site, "environment default label").value == "JupyterLab 4.5 (current)"
    assert look_up(site, "environment previous retires").value == "2027-06-30"
    assert look_up(site, "environment own path").value == "~/.jupyter/start-server"
    assert "120 minutes" in look_up(site, "jupyter idle_policy").value
    small = build_vocabulary(tiny, None)
    with pytest.raises(FactAbsent):
        look_up(small, "environment previous label")
    with pytest.raises(FactAbsent):
        look_up(small, "environment own script")
    assert "until you stop it" in look_up(small, "jupyter idle_policy").value
    with pytest.raises(UnknownFact, match="no environment 'lab-3'"):
        look_up(site, "environment lab-3 label")


def test_limitations_say_what_the_own_environment_and_the_idle_limit_mean(profile, tiny) -> None:
    titles = [entry.title for entry in service_limitations(build_vocabulary(profile, None))]
    assert "A server nobody uses is stopped after 120 minutes" in titles
    assert "The centre's JupyterLab environments have only the centre's extensions" in titles
    assert "You cannot install JupyterLab extensions" not in titles
    small = [entry.title for entry in service_limitations(build_vocabulary(tiny, None))]
    assert "You cannot install JupyterLab extensions" in small
    assert not any("stopped after" in title for title in small)


def test_any_extension_is_measured_by_the_own_jupyterlab_recipe(profile) -> None:
    def rating(record: VerificationRecord | None) -> str:
        evidence = Evidence(profile=profile, verifications={"recipe-own-jupyterlab": record})
        return next(f for c, f in evaluate_all(evidence) if c.id == "custom-any-extension").rating

    passed = VerificationRecord(date="2026-12-06", site="RCC", result="passed", kernels=["python3"])
    assert rating(None) == "untested"
    assert rating(passed) == "yes"
    assert rating(passed.model_copy(update={"result": "skipped"})) == "untested"
    assert rating(passed.model_copy(update={"site": "Elsewhere"})) == "untested"


def test_the_form_says_what_each_partition_has_idle_now(profile: Profile) -> None:
    places = spawn_places(profile)
    sinfo = "interactive up 0/16/0/16\nbatch up 8/24/0/32\ngpu down 0/0/8/8\nlargemem up 0/8/0/8\n"
    idle = idle_cpus(sinfo)
    assert idle["batch"] == (24, 32)
    assert partitions_down(sinfo) == {"gpu"}
    form = form_html(places, idle=idle)
    assert "Idle CPUs now: interactive 16 of 16, batch 24 of 32, gpu 0 of 8." in form
    # Slurm that does not answer is said, not hidden; the static form says nothing about it.
    assert "Idle CPUs now: unknown, Slurm did not answer." in form_html(places, idle={})
    assert "Idle CPUs" not in form_html(places)


def test_slurms_own_reason_is_taken_from_a_refused_submission() -> None:
    message = (
        "runuser -u someone -- sbatch --parsable exit status 1: "
        "sbatch: error: Batch job submission failed: Requested time limit is invalid "
        "(missing or exceeds some limit)\n"
    )
    assert slurm_refusal(message) == ("Requested time limit is invalid (missing or exceeds some limit)")
    assert slurm_refusal("the server never answered") is None
