"""The reference site follows the profile: rename a partition, and Slurm and the spawn form follow."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from hpc_handbook.probe.hub import read_spawn_form
from hpc_handbook.profile import Profile, load_profile
from hpc_handbook.reference_site.lifecycle import up

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.site


def partitions_in_sinfo() -> set[str]:
    listing = subprocess.run(
        ["sinfo", "--noheader", "--format=%R"], capture_output=True, text=True, check=True
    )
    return set(listing.stdout.split())


def places_on_the_spawn_form(profile: Profile) -> dict[str, str]:
    """The spawn form's place choices, as the hub shows the form to the doc CI's account."""
    assert profile.hub is not None
    return read_spawn_form(profile.hub).places


def test_renamed_partition_appears_in_sinfo_and_on_the_spawn_form(site: Profile, tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "site.yml").read_text())
    partition = data["systems"][0]["partitions"][2]  # one no kernel runs on, so kernels stay valid
    old = partition["name"]
    before = places_on_the_spawn_form(site)
    assert [p.name for p in site.jupyter_partitions] == [name for name in before if name != "login"]
    partition["name"], partition["jupyter"] = f"{old}2", True
    renamed = tmp_path / "site.yml"
    renamed.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        up(load_profile(renamed), log=lambda message: None)
        assert f"{old}2" in partitions_in_sinfo()
        assert old not in partitions_in_sinfo()
        assert f"{old}2" in places_on_the_spawn_form(site)
    finally:
        up(site, log=lambda message: None)
    assert old in partitions_in_sinfo()
    assert f"{old}2" not in places_on_the_spawn_form(site)
