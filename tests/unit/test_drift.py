"""Drift between site.yml and a snapshot, the pages it affects, and the changelog of system changes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hpc_handbook.changelog.fragments import ChangeItem, load_fragments, parse_fragment
from hpc_handbook.changes.detect import snapshot_changes
from hpc_handbook.changes.fragments import write_change_fragments
from hpc_handbook.changes.items import merge_items
from hpc_handbook.cli import main
from hpc_handbook.data.snapshot import (
    HubService,
    KernelEntry,
    ModuleEntry,
    Snapshot,
    dump_snapshot,
)
from hpc_handbook.drift.check import check_drift
from hpc_handbook.drift.pages import find_pages
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.profile import Profile, load_profile
from hpc_handbook.site_facts import build_vocabulary

from .site_snapshot import matching_snapshot

REPO = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 11, 25)


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile(REPO / "site.yml")


def test_a_snapshot_as_the_json_it_is_written_as_is_checked_the_same(profile: Profile) -> None:
    # `probe_site` returns that JSON; the drift check validates it into the model.
    snapshot = matching_snapshot(profile)
    snapshot.partitions.pop("largemem")
    as_json = json.loads(dump_snapshot(snapshot))
    assert check_drift(profile, as_json) == check_drift(profile, snapshot) != []


def test_a_snapshot_that_breaks_the_model_is_bad_input(profile: Profile) -> None:
    data = json.loads(dump_snapshot(matching_snapshot(profile)))
    data["partitions"]["batch"]["max_nodes"] = "lots"
    with pytest.raises(HandbookInputError) as error:
        check_drift(profile, data)
    assert error.value.where == "partitions.batch.max_nodes"


def checks(found: list) -> set[tuple[str, str, str]]:
    return {(d.kind, d.name, d.check) for d in found}


def test_a_site_that_matches_its_profile_has_no_drift(profile: Profile) -> None:
    snapshot = matching_snapshot(profile)
    assert check_drift(profile, snapshot, baseline=snapshot.model_copy(deep=True)) == []


# --- Each class of drift ------------------------------------------------------------------


def drifted(profile: Profile, change: Callable[[Snapshot], object]) -> list:
    baseline = matching_snapshot(profile)
    snapshot = baseline.model_copy(deep=True)
    change(snapshot)
    return check_drift(profile, snapshot, baseline=baseline)


def test_a_missing_kernel(profile: Profile) -> None:
    found = drifted(profile, lambda s: s.kernels.pop("ir"))
    assert checks(found) == {("kernel", "ir", "missing")}


def test_a_kernel_that_does_not_answer(profile: Profile) -> None:
    def change(s: Snapshot) -> None:
        s.kernels["bash"].error = "the kernel did not answer within 120 s"
        s.kernels["bash"].language_version = None

    assert checks(drifted(profile, change)) == {("kernel", "bash", "broken")}


def test_a_kernel_with_another_language_or_start(profile: Profile) -> None:
    def change(s: Snapshot) -> None:
        s.kernels["python3"].language = "julia"
        s.kernels["python3-batch"].start = "local"

    assert checks(drifted(profile, change)) >= {
        ("kernel", "python3", "language"),
        ("kernel", "python3-batch", "start"),
    }


def test_a_kernel_without_handbook_metadata_is_not_drift(profile: Profile) -> None:
    assert drifted(profile, lambda s: setattr(s.kernels["python3"], "start", "unknown")) == []


def test_a_key_package_that_is_gone(profile: Profile) -> None:
    found = drifted(profile, lambda s: s.kernels["python3"].packages.update(numpy=None))
    assert checks(found) == {("kernel", "python3", "package numpy")}


def test_a_changed_language_version_against_the_committed_snapshot(profile: Profile) -> None:
    found = drifted(profile, lambda s: setattr(s.kernels["python3"], "language_version", "3.12.1"))
    assert checks(found) == {("kernel", "python3", "language version")}
    assert found[0].versions is True
    assert "Python 3.11.2 → 3.12.1" in found[0].message


def test_a_changed_package_version_against_the_committed_snapshot(profile: Profile) -> None:
    found = drifted(profile, lambda s: s.kernels["python3-stack"].packages.update(numpy="2.1.0"))
    assert checks(found) == {("kernel", "python3-stack", "version numpy")}
    assert "numpy 1.0.0 → 2.1.0" in found[0].message


def test_without_a_committed_snapshot_versions_are_not_checked(profile: Profile) -> None:
    snapshot = matching_snapshot(profile)
    snapshot.kernels["python3"].language_version = "3.13.0"
    assert check_drift(profile, snapshot, baseline=None) == []


def test_a_missing_partition(profile: Profile) -> None:
    assert checks(drifted(profile, lambda s: s.partitions.pop("largemem"))) == {
        ("partition", "largemem", "missing")
    }


@pytest.mark.parametrize(
    ("field", "value", "check"),
    [
        ("max_time", "12:00:00", "MaxTime"),
        ("max_time", "UNLIMITED", "MaxTime"),
        ("max_nodes", 2, "MaxNodes"),
        ("max_nodes", "UNLIMITED", "MaxNodes"),
        ("memory_per_node_mb", 4096, "memory"),
        ("gpus_per_node", 2, "GPUs"),
        ("state", "DOWN", "State"),
        ("default", False, "default"),
    ],
)
def test_changed_partition_limits(profile: Profile, field: str, value: Any, check: str) -> None:
    found = drifted(profile, lambda s: setattr(s.partitions["batch"], field, value))
    assert checks(found) == {("partition", "batch", check)}


def test_memory_a_little_below_nominal_is_not_drift(profile: Profile) -> None:
    assert drifted(profile, lambda s: setattr(s.partitions["batch"], "memory_per_node_mb", 7900)) == []


def test_a_module_the_docs_rely_on_disappeared(profile: Profile) -> None:
    def change(s: Snapshot) -> None:
        s.modules.available.pop("hdf5")
        s.modules.available["gcc"].versions = ["13.2"]

    assert checks(drifted(profile, change)) == {
        ("module", "hdf5/1.14", "missing"),
        ("module", "gcc/12.2", "missing"),
    }


# --- Affected pages -----------------------------------------------------------------------


def notebook(kernel: str, *sources: str) -> str:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": [s]} for s in sources]
    return json.dumps(
        {"cells": cells, "metadata": {"kernelspec": {"name": kernel}}, "nbformat": 4, "nbformat_minor": 5}
    )


@pytest.fixture
def book_root(tmp_path: Path) -> Path:
    (tmp_path / "book" / "start").mkdir(parents=True)
    (tmp_path / "book" / "reference").mkdir(parents=True)
    (tmp_path / "examples").mkdir()
    pages = {
        "book/start/first.md": "Open the `python3` kernel.\n",
        "book/start/batch.md": (
            "Use the `python3-batch` kernel on {site}`batch_partition` for up to\n"
            "{site}`partition role:batch max_walltime`.\n"
        ),
        "book/reference/kernels.md": "```{site-kernels}\n```\n",
        "book/reference/modules.md": "Load `gcc/12.2`, not gcc/12.2.1.\n",
        "book/reference/status.md": "```{system-status} kernels\n```\n",
        "book/reference/other.md": "Nothing here about mypython3 or python3x.\n",
    }
    for name, text in pages.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "examples" / "stack.ipynb").write_text(
        notebook("python3-stack", "Load modules."), encoding="utf-8"
    )
    (tmp_path / "examples" / "first.ipynb").write_text(notebook("python3", "Hello."), encoding="utf-8")
    return tmp_path


def test_pages_are_found_by_whole_names_only(book_root: Path) -> None:
    assert find_pages(book_root, names=["python3"]) == ["book/start/first.md", "examples/first.ipynb"]
    assert find_pages(book_root, names=["python3-stack"]) == ["examples/stack.ipynb"]
    assert find_pages(book_root, names=["gcc/12.2"]) == ["book/reference/modules.md"]
    assert find_pages(book_root, names=["gcc/12.2.1"]) == ["book/reference/modules.md"]


def test_pages_are_found_by_directive_and_by_the_facts_they_state(profile: Profile, book_root: Path) -> None:
    vocabulary = build_vocabulary(profile, None)
    assert find_pages(book_root, directives=["site-kernels"]) == ["book/reference/kernels.md"]
    found = find_pages(book_root, components=["partition:batch"], vocabulary=vocabulary)
    assert found == ["book/start/batch.md"]
    assert find_pages(book_root, components=["partition:gpu"], vocabulary=vocabulary) == []


def test_drift_names_the_affected_pages(profile: Profile, book_root: Path) -> None:
    baseline = matching_snapshot(profile)
    snapshot = baseline.model_copy(deep=True)
    snapshot.partitions["batch"].max_time = "12:00:00"
    snapshot.kernels["python3"].packages["numpy"] = "2.1.0"
    found = {d.check: d for d in check_drift(profile, snapshot, baseline=baseline, root=book_root)}
    # The page states facts of the batch partition.
    assert found["MaxTime"].pages == ("book/start/batch.md",)
    # A version change also concerns the status page, which shows the committed versions.
    assert found["version numpy"].pages == (
        "book/reference/kernels.md",
        "book/reference/status.md",
        "book/start/first.md",
        "examples/first.ipynb",
    )


# --- The command --------------------------------------------------------------------------


def write_json(path: Path, snapshot: Snapshot) -> Path:
    path.write_text(dump_snapshot(snapshot), encoding="utf-8")
    return path


def test_the_drift_command_exits_0_1_or_2(
    profile: Profile, book_root: Path, capsys: pytest.CaptureFixture
) -> None:
    site = str(REPO / "site.yml")
    clean = write_json(book_root / "clean.json", matching_snapshot(profile))
    args = ["drift", "--site", site, "--root", str(book_root), "--baseline", str(clean)]
    assert main([*args, "--snapshot", str(clean)]) == 0
    assert "No drift" in capsys.readouterr().out

    broken = matching_snapshot(profile)
    broken.partitions.pop("batch")
    bad = write_json(book_root / "drifted.json", broken)
    assert main([*args, "--snapshot", str(bad), "--json"]) == 1
    [report] = json.loads(capsys.readouterr().out)
    assert (report["kind"], report["name"], report["check"]) == ("partition", "batch", "missing")
    assert report["pages"] == ["book/start/batch.md"]

    (book_root / "garbage.json").write_text("{", encoding="utf-8")
    assert main([*args, "--snapshot", str(book_root / "garbage.json")]) == 2
    assert main([*args, "--snapshot", str(book_root / "no-such-snapshot.json")]) == 2


# --- Snapshot changes and their fragments -------------------------------------------------


def changed(profile: Profile, change: Callable[[Snapshot], object]) -> tuple[Snapshot, Snapshot]:
    old = matching_snapshot(profile)
    new = old.model_copy(deep=True)
    change(new)
    return old, new


def test_nothing_changed_means_no_changes(profile: Profile) -> None:
    old = matching_snapshot(profile)
    new = old.model_copy(deep=True, update={"taken": dt.date(2027, 1, 1)})
    assert snapshot_changes(old, new, profile=profile) == []


def test_a_package_update_becomes_one_kernel_fragment(profile: Profile, tmp_path: Path) -> None:
    def change(s: Snapshot) -> None:
        s.kernels["python3"].packages["numpy"] = "2.1.0"
        s.kernels["python3"].language_version = "3.11.9"

    old, new = changed(profile, change)
    [paths] = [write_change_fragments(tmp_path, snapshot_changes(old, new, profile=profile), date=TODAY)]
    [fragment] = [parse_fragment(p) for p in paths]
    assert fragment.filename == "2026-11-25-system-kernel-python3.md"
    assert fragment.meta.key == "kernel/python3"
    assert fragment.meta.component == "kernel"
    assert fragment.meta.type == "changed"
    assert fragment.meta.audiences == ["novice", "expert", "admin"]  # a default kernel
    assert fragment.text == "python3 kernel: Python 3.11.2 → 3.11.9; numpy 1.0.0 → 2.1.0."


def test_expert_kernels_concern_experts_and_admins(profile: Profile, tmp_path: Path) -> None:
    old, new = changed(profile, lambda s: s.kernels["python3-batch"].packages.update(ipykernel="7.0.0"))
    [path] = write_change_fragments(tmp_path, snapshot_changes(old, new, profile=profile), date=TODAY)
    assert parse_fragment(path).meta.audiences == ["expert", "admin"]


def test_a_partition_limit_change(profile: Profile, tmp_path: Path) -> None:
    def change(s: Snapshot) -> None:
        s.partitions["batch"].max_time = "12:00:00"
        s.partitions["batch"].memory_per_node_mb = 16384

    old, new = changed(profile, change)
    [path] = write_change_fragments(tmp_path, snapshot_changes(old, new), date=TODAY)
    fragment = parse_fragment(path)
    assert fragment.meta.key == "partition/batch"
    assert fragment.meta.audiences == ["novice", "expert", "admin"]
    assert fragment.text == "batch partition: MaxTime 24:00:00 → 12:00:00; memory/node 8 GB → 16 GB."


def test_module_versions_added_and_removed(profile: Profile, tmp_path: Path) -> None:
    def change(s: Snapshot) -> None:
        s.modules.available["gcc"] = ModuleEntry(versions=["13.2"], default="13.2")
        s.modules.available["cuda"] = ModuleEntry(versions=["12.4"], default="12.4")

    old, new = changed(profile, change)
    paths = write_change_fragments(tmp_path, snapshot_changes(old, new), date=TODAY)
    fragments = {f.meta.key: f for f in (parse_fragment(p) for p in paths)}
    assert set(fragments) == {"module/gcc", "module/cuda"}
    assert (
        fragments["module/gcc"].text == "gcc module: gcc/13.2 added; gcc/12.2 removed; default 12.2 → 13.2."
    )
    assert fragments["module/gcc"].meta.audiences == ["expert", "admin"]
    assert fragments["module/cuda"].meta.type == "added"
    assert fragments["module/cuda"].text == "cuda module: cuda/12.4 added."


def test_kernels_partitions_and_tools_coming_and_going(profile: Profile) -> None:
    def change(s: Snapshot) -> None:
        s.kernels.pop("ir")
        s.kernels["julia"] = KernelEntry(language="julia")
        s.versions.slurm = "23.02.1"
        s.jupyter.packages["jupyterlab"] = "4.3.0"

    old, new = changed(profile, change)
    texts = {c.key: (c.change_type, c.text()) for c in snapshot_changes(old, new, profile=profile)}
    assert texts == {
        "kernel/ir": ("removed", "ir kernel: removed."),
        "kernel/julia": ("added", "julia kernel: added."),
        "service/slurm": ("changed", "Slurm: version 22.05.8 → 23.02.1."),
        "hub/jupyter": ("changed", "Jupyter: jupyterlab 4.2.5 → 4.3.0."),
    }


def test_a_kernel_that_did_not_answer_is_not_a_version_change(profile: Profile) -> None:
    def change(s: Snapshot) -> None:
        s.kernels["bash"] = s.kernels["bash"].model_copy(
            update={"error": "the kernel did not answer", "language_version": None, "packages": {}}
        )

    old, new = changed(profile, change)
    assert snapshot_changes(old, new, profile=profile) == []


def test_a_second_change_on_the_same_day_updates_the_same_fragment(profile: Profile, tmp_path: Path) -> None:
    first_old, first_new = changed(profile, lambda s: s.kernels["python3"].packages.update(numpy="2.0.0"))
    write_change_fragments(tmp_path, snapshot_changes(first_old, first_new, profile=profile), date=TODAY)
    second_new = first_new.model_copy(deep=True)
    second_new.kernels["python3"].packages.update(numpy="2.1.0", ipykernel="7.0.0")
    write_change_fragments(tmp_path, snapshot_changes(first_new, second_new, profile=profile), date=TODAY)
    [fragment] = load_fragments(tmp_path)
    # From the first old value to the last new one: one entry, not two.
    assert fragment.text == "python3 kernel: numpy 1.0.0 → 2.1.0; ipykernel 1.0.0 → 7.0.0."
    # Writing the same changes again (a probe run twice) changes nothing.
    before = (tmp_path / fragment.filename).read_text()
    write_change_fragments(tmp_path, snapshot_changes(first_new, second_new, profile=profile), date=TODAY)
    assert (tmp_path / fragment.filename).read_text() == before


def test_a_change_undone_on_the_same_day_removes_its_fragment(profile: Profile, tmp_path: Path) -> None:
    old, new = changed(profile, lambda s: setattr(s.partitions["interactive"], "max_nodes", 2))
    write_change_fragments(tmp_path, snapshot_changes(old, new), date=TODAY)
    assert write_change_fragments(tmp_path, snapshot_changes(new, old), date=TODAY) == []
    assert load_fragments(tmp_path) == []


def test_the_next_day_gets_a_fragment_of_its_own(profile: Profile, tmp_path: Path) -> None:
    old, new = changed(profile, lambda s: setattr(s.partitions["interactive"], "max_nodes", 2))
    write_change_fragments(tmp_path, snapshot_changes(old, new), date=TODAY)
    newer = new.model_copy(deep=True)
    newer.partitions["interactive"].max_nodes = 3
    write_change_fragments(tmp_path, snapshot_changes(new, newer), date=TODAY + dt.timedelta(days=1))
    assert [f.text for f in load_fragments(tmp_path)] == [
        "interactive partition: MaxNodes 2 → 3.",
        "interactive partition: MaxNodes 1 → 2.",
    ]


def test_hand_written_fragments_are_left_alone(profile: Profile, tmp_path: Path) -> None:
    hand = tmp_path / "2026-11-25-numpy-2.md"
    hand.write_text(
        "---\ndate: 2026-11-25\ntype: changed\naudiences: [expert]\ncomponent: kernel\n---\n"
        "NumPy 2 is here.\n",
        encoding="utf-8",
    )
    old, new = changed(profile, lambda s: s.kernels["python3"].packages.update(numpy="2.1.0"))
    write_change_fragments(tmp_path, snapshot_changes(old, new, profile=profile), date=TODAY)
    assert hand.read_text().endswith("NumPy 2 is here.\n")
    assert len(load_fragments(tmp_path)) == 2


def test_a_fragment_keeps_its_change_as_data_beside_its_text(profile: Profile, tmp_path: Path) -> None:
    def change(s: Snapshot) -> None:
        s.partitions["batch"].max_time = "12:00:00"
        s.partitions["batch"].memory_per_node_mb = 16384

    old, new = changed(profile, change)
    [written] = snapshot_changes(old, new, profile=profile)
    [path] = write_change_fragments(tmp_path, [written], date=TODAY)
    fragment = parse_fragment(path)
    assert fragment.meta.change is not None
    # What the next probe merges into comes from the data, never from reading the text back.
    assert fragment.meta.change.items == list(written.items)
    assert (fragment.meta.change.name, fragment.meta.change.subject) == ("batch", "batch partition")
    assert fragment.text == written.text()


def test_merging_keeps_the_first_old_and_the_last_new_value() -> None:
    def item(label: str, old: str | None, new: str | None) -> ChangeItem:
        return ChangeItem(label=label, old=old, new=new)

    earlier = [item("numpy", "1", "2"), item("scipy", "1", "2")]
    later = [item("numpy", "2", "3"), item("scipy", "2", "1"), item("pandas", None, "2")]
    assert merge_items(earlier, later) == [item("numpy", "1", "3"), item("pandas", None, "2")]


def test_a_hub_matching_the_profile_is_no_drift_and_its_upgrade_is_a_fragment(
    profile: Profile, tmp_path: Path
) -> None:
    old, new = changed(profile, lambda s: setattr(s.hub, "version", "5.6.0"))
    assert check_drift(profile, new) == []
    [path] = write_change_fragments(tmp_path, snapshot_changes(old, new, profile=profile), date=TODAY)
    fragment = parse_fragment(path)
    assert fragment.meta.key == "hub/jupyterhub"
    assert fragment.meta.audiences == ["novice", "expert", "admin"]
    assert fragment.text == "The hub: JupyterHub 5.5.4 → 5.6.0."


def test_a_partition_missing_from_the_spawn_form_and_a_kernel_users_lost_are_drift(profile: Profile) -> None:
    def change(s: Snapshot) -> None:
        assert s.hub is not None and s.hub.server_kernels is not None
        s.hub.form_places = [p for p in s.hub.form_places if p.value != "batch"]
        s.hub.server_kernels.remove("bash")

    _, new = changed(profile, change)
    found = {(d.kind, d.name, d.check) for d in check_drift(profile, new)}
    assert found == {("partition", "batch", "spawn-form"), ("kernel", "bash", "server")}
    pages = {d.name: d.pages for d in check_drift(profile, new, root=REPO)}
    assert "book/start/log-in.md" in pages["batch"]


def test_a_hub_that_did_not_answer_the_probe_is_drift_not_a_change(profile: Profile) -> None:
    old, new = changed(
        profile, lambda s: setattr(s, "hub", HubService(url="http://127.0.0.1:8000", error="down"))
    )
    assert [(d.kind, d.check) for d in check_drift(profile, new)] == [("hub", "answer")]
    assert snapshot_changes(old, new, profile=profile) == []


def test_a_probed_change_names_its_site_so_other_sites_books_leave_it_out(
    profile: Profile, tmp_path: Path
) -> None:
    old, new = changed(profile, lambda s: s.kernels["python3"].packages.update(numpy="2.1.0"))
    [path] = write_change_fragments(
        tmp_path, snapshot_changes(old, new, profile=profile), date=TODAY, site="RCC"
    )
    assert parse_fragment(path).meta.site == "RCC"
    assert "site: RCC" in path.read_text()
