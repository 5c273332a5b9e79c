"""The reference site is generated from the profile: rename a partition, and Slurm follows."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from hpc_handbook import reference_site
from hpc_handbook.profile import Profile, load_profile

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.site


def partitions_in_sinfo() -> set[str]:
    listing = subprocess.run(
        ["sinfo", "--noheader", "--format=%R"], capture_output=True, text=True, check=True
    )
    return set(listing.stdout.split())


def test_renamed_partition_appears_in_sinfo(site: Profile, tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "site.yml").read_text())
    old = data["systems"][0]["partitions"][2]["name"]  # one no kernel runs on, so kernels stay valid
    data["systems"][0]["partitions"][2]["name"] = f"{old}2"
    renamed = tmp_path / "site.yml"
    renamed.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        reference_site.up(load_profile(renamed), log=lambda message: None)
        assert f"{old}2" in partitions_in_sinfo()
        assert old not in partitions_in_sinfo()
    finally:
        reference_site.up(site, log=lambda message: None)
    assert old in partitions_in_sinfo()
