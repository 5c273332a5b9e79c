"""The site vocabulary: facts by key from the profile and the snapshot, and how pages write them."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpc_handbook.data.snapshot import load_snapshot
from hpc_handbook.profile import load_profile
from hpc_handbook.site_facts import FactAbsent, UnknownFact, build_vocabulary, look_up, site_parameters
from hpc_handbook.site_facts.markup import fact_uses, render

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def default():
    profile = load_profile(REPO / "site.yml")
    return build_vocabulary(profile, load_snapshot(REPO / "book" / "data" / "snapshot.json"), {"a": "novice"})


@pytest.fixture(scope="module")
def tiny():
    # The default site's snapshot is another site's: the tiny vocabulary must not use it.
    snapshot = load_snapshot(REPO / "book" / "data" / "snapshot.json")
    return build_vocabulary(load_profile(REPO / "tests" / "profiles" / "tiny.yml"), snapshot)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("batch_partition", "batch"),
        ("partition role:batch max_walltime", "24:00:00"),
        ("partition role:gpu", "gpu"),
        ("partition batch node_count", "4"),
        ("partition batch nodes", "rcc-cpu[01-04]"),
        ("kernel role:python display_name", "Python 3"),
        ("module gcc", "gcc/12.2"),
        ("module gcc versions", "12.2, 13.2"),
        ("filesystem scratch path", "/scratch/$USER"),
        ("jupyter extensions", "jupyterlab-lmod, jupyter-server-proxy"),
        ("jupyter proxy_apps", "tensorboard"),
        ("spawn default_place", "Login node (no job, starts at once)"),
        ("examples count", "1"),
        ("examples count novice", "1"),
        ("site short_name", "RCC"),
    ],
)
def test_facts_of_the_default_site(default, key: str, value: str) -> None:
    assert look_up(default, key).value == value


def test_every_site_parameter_is_a_fact(default) -> None:
    for name in site_parameters(default.profile):
        assert look_up(default, name).key == name


def test_a_fact_names_the_component_it_shows(default) -> None:
    assert look_up(default, "batch_partition").components == ("partition:batch",)
    assert look_up(default, "kernel role:gpu partition").components == ("kernel:python3-gpu",)
    assert look_up(default, "jupyter extensions").source == "snapshot"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("partition nosuch", "no partition 'nosuch'; this site has: batch, gpu, interactive, largemem"),
        ("partition batch colour", "partitions have no 'colour'"),
        ("kernel role:teleport", "kernel role 'teleport'"),
        ("module cuda", "no module 'cuda'"),
        ("nonsense", "neither a site parameter nor a kind of fact"),
    ],
)
def test_a_name_the_site_does_not_have_is_an_unknown_fact(default, key: str, message: str) -> None:
    with pytest.raises(UnknownFact, match=message):
        look_up(default, key)


def test_a_kind_of_fact_another_site_lacks_is_absent_not_unknown(tiny) -> None:
    assert tiny.snapshot is None
    with pytest.raises(FactAbsent, match="no gpu partition"):
        look_up(tiny, "partition role:gpu")
    with pytest.raises(FactAbsent, match="no value for gpu_partition"):
        look_up(tiny, "gpu_partition")
    with pytest.raises(FactAbsent, match="not probed"):
        look_up(tiny, "jupyter lab_version")
    # Without a snapshot of its own, the site's declared extensions stand.
    assert look_up(tiny, "batch_partition").value == "compute"


def test_render_fills_roles_inline_code_and_code_blocks_line_for_line(default) -> None:
    text = (
        "On {site}`batch_partition`, up to {site}`partition role:batch max_walltime`.\n"
        "Run {site-code}`sbatch -p {{ batch_partition }} job.sh`.\n"
        "```{site-code-block} bash\n"
        "#SBATCH --partition={{ partition role:gpu }}\n"
        "```\n"
        "```python\n"
        'print("{{ not filled }}")\n'
        "```\n"
    )
    rendered = render(text, default)
    lines = rendered.text.splitlines()
    assert lines[0] == "On batch, up to 24:00:00."
    assert lines[1] == "Run `sbatch -p batch job.sh`."
    assert lines[3] == "#SBATCH --partition=gpu"
    assert len(lines) == len(text.splitlines())
    assert rendered.unfilled == [(7, '{{ not filled }}")')]
    keys = [(use.key, use.line) for use in fact_uses(text)]
    assert keys == [
        ("batch_partition", 1),
        ("partition role:batch max_walltime", 1),
        ("batch_partition", 2),
        ("partition role:gpu", 4),
    ]


def test_render_reports_unknown_facts_with_their_line(default) -> None:
    rendered = render("fine\nBad: {site}`partition nosuch`.\n", default)
    assert [(line, key) for line, key, _ in rendered.unknown] == [(2, "partition nosuch")]
