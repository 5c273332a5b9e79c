"""The "Open on the hub" links: what each example page links, and where the hub's handler sends it.

The book builds the link and the hub's handler reads it with the same module, so a link the
book prints is one the handler follows; a link to another repository or outside the clone is refused.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import nbformat
import pytest

from hpc_handbook.examples.contract import load_example
from hpc_handbook.examples.launch_link import launch_link
from hpc_handbook.hub.launch import LaunchError, launch_redirect, server_name
from hpc_handbook.profile import load_profile
from hpc_handbook.reference_site.hub import spawn_places
from hpc_handbook.reference_site.spawn_options import check_options, options_from_form

REPO = Path(__file__).resolve().parents[2]
PROFILE = load_profile(REPO / "site.yml")
TINY = load_profile(REPO / "tests" / "profiles" / "tiny.yml")
REPOSITORY = "https://git.rcc.example.org/hpc/jupyter-handbook"


def example(name: str, profile=PROFILE):
    return load_example(REPO / "examples" / f"{name}.ipynb", profile)


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlparse(url).query).items()}


def test_a_login_node_example_links_the_login_node_and_its_notebook_in_the_clone() -> None:
    link = launch_link(example("start-first-notebook"), PROFILE)
    assert link.url.startswith("https://jupyter.rcc.example.org/hub/handbook-launch?")
    assert query_of(link.url) == {
        "place": "login",
        "repo": REPOSITORY,
        "branch": "main",
        "urlpath": "lab/tree/jupyter-handbook/examples/start-first-notebook.ipynb",
    }
    assert (link.server, link.partition) == ("handbook-login", None)
    assert link.notebook == "jupyter-handbook/examples/start-first-notebook.ipynb"


def test_an_example_placed_on_a_partition_asks_for_its_cpus_and_walltime_there() -> None:
    link = launch_link(example("recipe-optimized-libraries"), PROFILE)
    asked = query_of(link.url)
    assert (asked["place"], asked["cpus"], asked["walltime"]) == ("batch", "1", "00:10:00")
    assert (link.server, link.partition) == ("handbook-batch", "batch")
    # The spawn form's own checks take what the link asks for.
    places = spawn_places(PROFILE)
    spawn = {k: v for k, v in asked.items() if k in ("place", "cpus", "walltime")}
    assert check_options(options_from_form({k: [v] for k, v in spawn.items()}), places)["place"] == "batch"


def test_an_example_the_site_cannot_run_still_opens_and_its_link_says_why_it_will_not_run() -> None:
    link = launch_link(example("recipe-conda-kernel"), PROFILE)
    assert link.caveat == "the site does not offer conda"
    assert query_of(link.url)["urlpath"].endswith("/examples/recipe-conda-kernel.ipynb")
    assert launch_link(example("start-first-notebook"), PROFILE).caveat == ""


def test_a_book_for_another_centre_links_its_hub_and_repository(tmp_path: Path) -> None:
    notebook = nbformat.read(REPO / "examples" / "start-first-notebook.ipynb", as_version=4)
    path = tmp_path / "start-first-notebook.ipynb"
    nbformat.write(notebook, path)
    link = launch_link(load_example(path, TINY), TINY)
    assert link.url.startswith("https://hub.tiny-centre.example.net/hub/handbook-launch?")
    assert query_of(link.url)["repo"] == "https://code.tiny-centre.example.net/docs/handbook"
    assert link.notebook == "handbook/examples/start-first-notebook.ipynb"


def test_the_hub_sends_a_link_to_the_spawn_url_of_its_named_server_then_to_nbgitpuller() -> None:
    link = launch_link(example("recipe-optimized-libraries"), PROFILE)
    target = launch_redirect(query_of(link.url), user="ada lovelace", base_url="/", repository=REPOSITORY)
    spawn = urlparse(target)
    assert spawn.path == "/hub/spawn/ada%20lovelace/handbook-batch"
    asked = query_of(target)
    assert {k: asked[k] for k in ("place", "cpus", "walltime")} == {
        "place": "batch",
        "cpus": "1",
        "walltime": "00:10:00",
    }
    assert "repo" not in asked  # nbgitpuller's parameters go to its page, not to the spawner
    pull = urlparse(asked["next"])
    assert pull.path == "/user/ada%20lovelace/handbook-batch/git-pull"
    assert query_of(asked["next"]) == {
        "repo": REPOSITORY,
        "branch": "main",
        "urlpath": "lab/tree/jupyter-handbook/examples/recipe-optimized-libraries.ipynb",
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"repo": "https://elsewhere.example.com/x"}, "handbook's repository"),
        ({"repo": ""}, "handbook's repository"),
        ({"urlpath": "lab/tree/jupyter-handbook/../.ssh/id_rsa"}, "urlpath"),
        ({"urlpath": "lab/tree/other/examples/x.ipynb"}, "urlpath"),
    ],
)
def test_the_hub_refuses_a_link_to_another_repository_or_outside_its_clone(change, message) -> None:
    asked = {**query_of(launch_link(example("start-first-notebook"), PROFILE).url), **change}
    with pytest.raises(LaunchError, match=message):
        launch_redirect(asked, user="ada", base_url="/", repository=REPOSITORY)


def test_one_named_server_per_place_and_environment() -> None:
    assert server_name({}) == "handbook-login"
    assert server_name({"place": "gpu"}) == "handbook-gpu"
    assert server_name({"place": "batch", "environment": "2026-12"}) == "handbook-batch-2026-12"
    assert server_name({"place": "a/b c"}) == "handbook-a-b-c"
