"""Nodes in the drift check, the changelog of system changes and the status page's partitions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from hpc_handbook.changelog.fragments import parse_fragment
from hpc_handbook.changes.detect import snapshot_changes
from hpc_handbook.changes.fragments import write_change_fragments
from hpc_handbook.data.snapshot import NodeEntry, Snapshot
from hpc_handbook.drift.check import check_drift
from hpc_handbook.profile import Profile, load_profile
from hpc_handbook.site_facts.nodes import compress_hostlist, nodes_text

from .site_snapshot import matching_snapshot

REPO = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 12, 2)


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile(REPO / "site.yml")


def edited(profile: Profile, change: Callable[[Snapshot], object]) -> tuple[Snapshot, Snapshot]:
    old = matching_snapshot(profile)
    new = old.model_copy(deep=True)
    change(new)
    return old, new


def checks(profile: Profile, snapshot: Snapshot) -> set[tuple[str, str, str]]:
    return {(d.kind, d.name, d.check) for d in check_drift(profile, snapshot)}


def drain(snapshot: Snapshot, node: str, reason: str = "memory errors", *, state: str = "drained") -> None:
    partition = next(p for p in snapshot.partitions.values() if node in p.nodes)
    partition.nodes[node] = partition.nodes[node].model_copy(update={"state": state, "reason": reason})


def test_the_matching_snapshot_has_the_profiles_nodes(profile: Profile) -> None:
    snapshot = matching_snapshot(profile)
    assert list(snapshot.partitions["batch"].nodes) == [f"rcc-cpu0{i}" for i in range(1, 5)]
    assert snapshot.partitions["gpu"].nodes["rcc-gpu01"].gpus == 2
    assert snapshot.partitions["gpu"].max_time == "08:00:00"
    assert checks(profile, snapshot) == set()


# --- Drift --------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["drained", "down"])
def test_a_node_that_is_drained_or_down_is_drift(profile: Profile, state: str) -> None:
    _, new = edited(profile, lambda s: drain(s, "rcc-cpu03", "disk failure", state=state))
    [finding] = check_drift(profile, new)
    assert (finding.kind, finding.name, finding.check) == ("node", "rcc-cpu03", "state")
    assert finding.message == f"{state} in partition batch: disk failure"


def test_a_drained_node_names_the_pages_of_its_partition_and_the_status_page(profile: Profile) -> None:
    _, new = edited(profile, lambda s: drain(s, "rcc-cpu03"))
    [finding] = check_drift(profile, new, root=REPO)
    assert "book/reference/status.md" in finding.pages
    # The multi-node recipe prints the batch partition's nodes.
    assert "examples/recipe-multi-node-jobs.ipynb" in finding.pages
    # Only the batch partition's pages: the GPU recipe shows another partition.
    assert "examples/recipe-gpus-from-a-notebook.ipynb" not in finding.pages


def test_a_partition_with_a_node_fewer_than_the_profile_says(profile: Profile) -> None:
    def change(s: Snapshot) -> None:
        s.partitions["batch"].nodes.pop("rcc-cpu04")
        s.partitions["batch"].total_nodes = 3

    _, new = edited(profile, change)
    [finding] = check_drift(profile, new)
    assert (finding.kind, finding.name, finding.check) == ("partition", "batch", "nodes")
    assert finding.message == "3 nodes at the site (rcc-cpu[01-03]), site.yml says 4 (rcc-cpu[01-04])"


def test_a_node_renamed_is_a_changed_node_list_even_at_the_same_count(profile: Profile) -> None:
    def change(s: Snapshot) -> None:
        nodes = s.partitions["batch"].nodes
        nodes["rcc-cpu05"] = nodes.pop("rcc-cpu04")

    _, new = edited(profile, change)
    assert checks(profile, new) == {("partition", "batch", "nodes")}


def test_an_old_snapshot_without_nodes_is_checked_by_slurms_count(profile: Profile) -> None:
    def change(s: Snapshot) -> None:
        for partition in s.partitions.values():
            partition.nodes = {}

    _, new = edited(profile, change)
    assert checks(profile, new) == set()
    new.partitions["batch"].total_nodes = 2
    assert checks(profile, new) == {("partition", "batch", "nodes")}


@pytest.mark.parametrize(
    ("field", "value", "check", "message"),
    [
        ("features", ["cpu", "avx512"], "features", "features cpu,avx512 at the site, site.yml says cpu"),
        ("features", [], "features", "features none at the site, site.yml says cpu"),
        ("cpus", 16, "CPUs", "CPUs 16 at the site, site.yml says 8"),
        ("memory_mb", 16384, "memory", "memory 16 GB at the site, site.yml says 8 GB"),
        ("gpus", 1, "GPUs", "GPUs 1 at the site, site.yml says 0"),
    ],
)
def test_a_node_that_offers_other_than_the_profile_says(
    profile: Profile, field: str, value: object, check: str, message: str
) -> None:
    def change(s: Snapshot) -> None:
        node = s.partitions["batch"].nodes["rcc-cpu02"]
        s.partitions["batch"].nodes["rcc-cpu02"] = node.model_copy(update={field: value})

    _, new = edited(profile, change)
    found = [d for d in check_drift(profile, new) if d.kind == "node"]
    assert [(d.name, d.check) for d in found] == [("rcc-cpu02", check)]
    assert found[0].message == f"{message} for the nodes of batch"


def test_a_node_a_little_below_its_nominal_memory_is_not_drift(profile: Profile) -> None:
    def change(s: Snapshot) -> None:
        node = s.partitions["batch"].nodes["rcc-cpu02"]
        s.partitions["batch"].nodes["rcc-cpu02"] = node.model_copy(update={"memory_mb": 7900})

    _, new = edited(profile, change)
    assert checks(profile, new) == set()


# --- System changes -----------------------------------------------------------------------


def test_a_node_drained_becomes_one_fragment_for_that_node(profile: Profile, tmp_path: Path) -> None:
    old, new = edited(profile, lambda s: drain(s, "rcc-cpu03", "memory errors"))
    changes = snapshot_changes(old, new, profile=profile)
    assert [(c.key, c.change_type) for c in changes] == [("node/rcc-cpu03", "changed")]
    [path] = write_change_fragments(tmp_path, changes, date=TODAY, site="RCC")
    fragment = parse_fragment(path)
    assert fragment.filename == "2026-12-02-system-node-rcc-cpu03.md"
    assert fragment.meta.component == "partition"
    assert fragment.meta.audiences == ["expert", "admin"]
    assert fragment.text == "rcc-cpu03 node (batch partition): state up → drained (memory errors)."
    # Back up the same day: the change is undone, and so is its fragment.
    assert write_change_fragments(tmp_path, snapshot_changes(new, old), date=TODAY) == []
    assert not path.exists()


def test_nodes_added_and_removed_are_changes(profile: Profile) -> None:
    def change(s: Snapshot) -> None:
        nodes = s.partitions["batch"].nodes
        nodes["rcc-cpu05"] = nodes["rcc-cpu01"].model_copy()
        nodes.pop("rcc-cpu02")

    old, new = edited(profile, change)
    texts = {c.key: (c.change_type, c.text()) for c in snapshot_changes(old, new)}
    assert texts == {
        "node/rcc-cpu02": ("removed", "rcc-cpu02 node (batch partition): removed."),
        "node/rcc-cpu05": ("added", "rcc-cpu05 node (batch partition): added."),
    }


def test_a_new_reason_for_a_node_that_stays_drained_is_no_change(profile: Profile) -> None:
    _, new = edited(profile, lambda s: drain(s, "rcc-cpu03", "memory errors"))
    newer = new.model_copy(deep=True)
    drain(newer, "rcc-cpu03", "memory errors; DIMM 3 replaced, testing")
    assert snapshot_changes(new, newer) == []


def test_a_snapshot_from_before_nodes_were_recorded_gives_no_node_news(profile: Profile) -> None:
    def change(s: Snapshot) -> None:
        for partition in s.partitions.values():
            partition.nodes = {}

    new, old = edited(profile, change)
    assert snapshot_changes(old, new) == []


# --- How nodes read -----------------------------------------------------------------------


def test_hostlists_are_compressed_like_slurms() -> None:
    assert compress_hostlist(["rcc-cpu04", "rcc-cpu01", "rcc-cpu02"]) == "rcc-cpu[01-02,04]"
    assert compress_hostlist(["rcc-gpu01"]) == "rcc-gpu01"
    assert compress_hostlist(["login", "n9", "n10", "n11"]) == "login,n9,n[10-11]"


def test_nodes_read_by_state_with_the_reason_of_those_not_up(profile: Profile) -> None:
    snapshot = matching_snapshot(profile)
    batch = snapshot.partitions["batch"].nodes
    assert nodes_text(batch) == "rcc-cpu[01-04]: 4 up"
    batch["rcc-cpu03"] = NodeEntry(state="drained", reason="disk", cpus=8, memory_mb=8192)
    batch["rcc-cpu01"] = NodeEntry(state="down", reason="Not responding", cpus=8, memory_mb=8192)
    assert nodes_text(batch) == (
        "rcc-cpu[02,04]: 2 up; rcc-cpu03: 1 drained (disk); rcc-cpu01: 1 down (Not responding)"
    )


def test_the_status_pages_partitions_table_shows_each_partitions_nodes(profile: Profile) -> None:
    from hpc_handbook.book.status_pages import partitions_table

    def nodes_cell(snapshot: Snapshot, partition: str) -> str:
        cells = [c.strip() for c in partitions_table(snapshot).astext().split("\n\n") if c.strip()]
        return cells[cells.index(partition) + 2]

    snapshot = matching_snapshot(profile)
    # What each node offers follows, so a page can send readers here for features and GPUs.
    assert nodes_cell(snapshot, "gpu") == "rcc-gpu01: 1 up (each: 8 CPUs, 16 GB, 2 GPUs, features gpu)"
    drain(snapshot, "rcc-cpu02", "disk")
    assert nodes_cell(snapshot, "batch (default)") == (
        "rcc-cpu[01,03-04]: 3 up; rcc-cpu02: 1 drained (disk) (each: 8 CPUs, 8 GB, features cpu)"
    )
    # A snapshot from before nodes were recorded shows Slurm's count.
    snapshot.partitions["batch"].nodes = {}
    assert nodes_cell(snapshot, "batch (default)") == "4"
