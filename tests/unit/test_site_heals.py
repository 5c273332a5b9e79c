"""`site up` and `site reset` decide what to restart and what to remove without touching the machine here.

The daemons' answers are replaced by what a test chooses; the site tests in
tests/site/test_site_heals.py kill the real daemons.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hpc_handbook.profile import Profile, load_profile
from hpc_handbook.reference_site import hub, lifecycle, proxy, servers, slurm_nodes, users
from hpc_handbook.reference_site.paths import ReferenceSiteError
from hpc_handbook.reference_site.slurm_conf import site_nodes

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def profile() -> Profile:
    return load_profile(REPO / "site.yml")


def test_a_deaf_slurmd_is_restarted_at_once_a_silent_one_after_the_grace_each_once(profile: Profile) -> None:
    nodes = site_nodes(profile)
    states = {node.name: "idle" for node in nodes} | {"rcc-mem01": "idle*", "rcc-cpu01": "down*"}
    deaf = {node.port for node in nodes if node.name == "rcc-cpu01"}

    def restart(waited_s: float, restarted: set[str]) -> list[str]:
        chosen = slurm_nodes.to_restart(
            nodes, states, listening=lambda port: port not in deaf, waited_s=waited_s, restarted=restarted
        )
        return [node.name for node in chosen]

    assert restart(1.0, set()) == []  # a slurmd just started may not listen yet
    assert restart(slurm_nodes.SETTLE_S, set()) == ["rcc-cpu01"]  # nothing listens on its port
    assert restart(slurm_nodes.GRACE_S, set()) == ["rcc-cpu01", "rcc-mem01"]
    assert restart(slurm_nodes.GRACE_S, {"rcc-cpu01", "rcc-mem01"}) == []


def test_up_restarts_the_slurmd_that_stopped_answering_and_says_so(
    profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = site_nodes(profile)
    restarted: list[str] = []

    def states() -> dict[str, str]:
        mem01 = "idle" if "rcc-mem01" in restarted else "idle*"
        return {node.name: "idle" for node in nodes} | {"rcc-mem01": mem01}

    monkeypatch.setattr(slurm_nodes, "node_states", states)
    monkeypatch.setattr(slurm_nodes, "GRACE_S", 0.0)
    monkeypatch.setattr(slurm_nodes, "slurmd_listens", lambda port: True)
    monkeypatch.setattr(slurm_nodes, "resume_if_left_down", lambda node, state: None)
    messages: list[str] = []
    slurm_nodes.wait_for_nodes(
        nodes, messages.append, restart=lambda node: restarted.append(node.name), failure=lambda daemon: ""
    )
    assert restarted == ["rcc-mem01"]
    assert messages == ["the slurmd of node rcc-mem01 does not answer (idle*): restarting it"]


def test_a_node_that_stays_down_after_its_restart_names_its_slurmds_reason(
    profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = site_nodes(profile)
    monkeypatch.setattr(
        slurm_nodes, "node_states", lambda: {n.name: "idle" for n in nodes} | {"rcc-mem01": "down*"}
    )
    monkeypatch.setattr(slurm_nodes, "NODES_TIMEOUT_S", 0.5)
    monkeypatch.setattr(slurm_nodes, "slurmd_listens", lambda port: False)
    monkeypatch.setattr(slurm_nodes, "resume_if_left_down", lambda node, state: None)
    with pytest.raises(ReferenceSiteError, match=r"rcc-mem01: fatal: Unable to bind listen port"):
        slurm_nodes.wait_for_nodes(
            nodes,
            lambda message: None,
            restart=lambda node: None,
            failure=lambda d: "fatal: Unable to bind listen port",
        )


def test_a_proxy_that_stopped_answering_is_restarted_alone(
    profile: Profile, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stopped: list[list[int]] = []
    started: list[str] = []
    monkeypatch.setattr(proxy, "PROXY_TOKEN_FILE", tmp_path / "proxy-token")
    monkeypatch.setattr(proxy, "proxy_pids", lambda: [200])
    monkeypatch.setattr(proxy, "terminate", lambda pids, grace: stopped.append(pids))
    monkeypatch.setattr(proxy, "proxy_answers", lambda ports, token: False)
    monkeypatch.setattr(proxy, "start_proxy", lambda profile, log: started.append("proxy"))
    messages: list[str] = []
    assert proxy.ensure_proxy(profile, messages.append) is True
    assert stopped == [[200]] and started == ["proxy"]
    assert messages == ["configurable-http-proxy does not answer at http://127.0.0.1:8001: restarting it"]


def test_a_proxy_that_answers_the_sites_token_is_left_alone(
    profile: Profile, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(proxy, "PROXY_TOKEN_FILE", tmp_path / "proxy-token")
    monkeypatch.setattr(proxy, "proxy_pids", lambda: [200])
    answered: list[str] = []
    monkeypatch.setattr(proxy, "proxy_answers", lambda ports, token: answered.append(token) or True)
    assert proxy.ensure_proxy(profile, lambda message: None) is False
    # The token made for the site, kept for the next restart of either daemon.
    assert answered == [(tmp_path / "proxy-token").read_text().strip()] and len(answered[0]) == 64


def test_the_proxy_listens_on_loopback_and_sends_what_has_no_route_to_the_hub(profile: Profile) -> None:
    command = proxy.proxy_command(proxy.proxy_ports(profile))
    assert "--ip=127.0.0.1" in command and "--api-ip=127.0.0.1" in command
    assert "--port=8000" in command and "--api-port=8001" in command
    assert "--default-target=http://127.0.0.1:8081" in command


def test_the_hub_neither_starts_nor_stops_the_proxy_nor_stops_servers_when_it_stops(profile: Profile) -> None:
    config = (REPO / "reference_site" / "templates" / "jupyterhub_config.py").read_text()
    for line in (
        "c.ConfigurableHTTPProxy.should_start = False",
        "c.JupyterHub.cleanup_servers = False",
        "c.JupyterHub.cleanup_proxy = False",
    ):
        assert line in config
    settings = hub.hub_settings(profile)
    assert settings["proxy"]["api_url"] == "http://127.0.0.1:8001"
    assert settings["routes_check_s"] <= 30
    assert set(settings["site_service"]["scopes"]) == {"list:users", "read:servers", "delete:servers"}


def test_the_default_server_and_named_servers_have_their_own_api_paths() -> None:
    assert servers.server_path("rcc-novice", "") == "/users/rcc-novice/server"
    assert servers.server_path("rcc-novice", "doc-ci batch") == "/users/rcc-novice/servers/doc-ci%20batch"


def test_a_reset_whose_tear_down_fails_brings_the_site_up_again(
    profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    ups: list[str] = []

    def tear_down(profile: Profile, log: object) -> None:
        raise ReferenceSiteError("userdel rcc-docci took more than 120 s")

    monkeypatch.setattr(lifecycle, "_require_root", lambda action: None)
    monkeypatch.setattr(lifecycle, "_tear_down", tear_down)
    monkeypatch.setattr(lifecycle, "up", lambda profile, log: ups.append(profile.site.short_name) or [])
    messages: list[str] = []
    with pytest.raises(ReferenceSiteError, match=r"did not start the site anew, but it is up again: userdel"):
        lifecycle.reset(profile, force=True, log=messages.append)
    assert ups == ["RCC"]
    assert messages == [
        "reset could not tear the site down (userdel rcc-docci took more than 120 s): bringing it up again"
    ]


def test_a_large_home_is_removed_and_its_size_and_time_are_logged(tmp_path: Path) -> None:
    home = tmp_path / "rcc-docci"
    (home / "doc-ci-0123abcd" / "envs" / "dask" / "lib").mkdir(parents=True)
    (home / "doc-ci-0123abcd" / "envs" / "dask" / "lib" / "big.so").write_bytes(b"\1" * 3_000_000)
    messages: list[str] = []
    users.remove_home(home, messages.append)
    assert not home.exists()
    [message] = messages
    assert message.startswith(f"removed {home} (3 MB) in ") and message.endswith(" s")
