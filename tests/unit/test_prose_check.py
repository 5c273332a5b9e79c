"""The prose check: each kind of statement that contradicts the site is found, with page and line.

A small book is planted in a temporary folder, with the repository's profile and snapshot,
one page per kind of contradiction; `hpc-handbook prose` must fail and name each.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hpc_handbook.cli import main
from hpc_handbook.data.snapshot import load_snapshot, write_snapshot
from hpc_handbook.probe.snapshot import carry_retired
from hpc_handbook.profile import load_profile
from hpc_handbook.prose.check import check_prose
from hpc_handbook.prose.command import prose_findings
from hpc_handbook.prose.report_rows import prose_results
from hpc_handbook.site_facts import build_vocabulary

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "profiles" / "tiny.yml"

#: One page per kind of contradiction, with the line the check must name.
PLANTED = {
    "book/start/retired.md": (
        "Load the compiler:\n\n```console\n$ module load gcc/11.1\n```\n",
        4,
        "retired",
    ),
    "book/recipes/walltime.md": (
        "A long job:\n\n```bash\n#!/bin/bash\n#SBATCH --partition=batch\n#SBATCH --time=48:00:00\n```\n",
        5,
        "beyond limit",
    ),
    "book/recipes/extension.md": ("Open the panel of the jupyterlab-git extension.\n", 1, "unknown"),
    "book/start/placeholder.md": ("Submit to `{{ gpu_partition }}` now.\n", 1, "unfilled placeholder"),
    "book/start/partition.md": ("Use the fancy partition for this.\n", 1, "unknown"),
    "book/operate/dispatch.md": (
        "```yaml\ndoc_ci:\n  dispatch_partition: compute  # workers\n```\n",
        3,
        "unknown",
    ),
    "book/start/fact.md": ("Up to {site}`partition nosuch max_walltime`.\n", 1, "unknown fact"),
}


@pytest.fixture
def planted_root(tmp_path: Path) -> Path:
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "sanitize.cfg", tmp_path / "examples")
    (tmp_path / "changelog").mkdir()
    (tmp_path / "book" / "data").mkdir(parents=True)
    snapshot = load_snapshot(REPO / "book" / "data" / "snapshot.json")
    assert snapshot is not None
    # The site once had gcc/11.1; a later probe found it gone.
    retired = snapshot.retired.model_copy(update={"modules": ["gcc/11.1"]})
    write_snapshot(
        tmp_path / "book" / "data" / "snapshot.json", snapshot.model_copy(update={"retired": retired})
    )
    shutil.copy(REPO / "book" / "data" / "page-owners.yml", tmp_path / "book" / "data")
    for page, (text, _, _) in PLANTED.items():
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / page).write_text(text, encoding="utf-8")
    return tmp_path


def test_each_planted_kind_is_found_with_page_line_and_owner(planted_root: Path) -> None:
    findings, _ = prose_findings(planted_root, str(REPO / "site.yml"), None, None)
    found = {(f.page, f.where, f.kind) for f in findings}
    for page, (_, line, kind) in PLANTED.items():
        assert (page, f"{page}, line {line}", kind) in found, f"{kind} in {page} not found: {found}"
    owners = {f.page: f.owner for f in findings}
    assert (
        owners["book/start/retired.md"] == "docs-team"
        and owners["book/recipes/walltime.md"] == "software-team"
    )
    truths = {f.kind: f.truth for f in findings}
    assert "gcc/11.1 was retired" in truths["retired"]
    assert "beyond the batch partition's 24:00:00" in truths["beyond limit"]


def test_the_command_fails_and_names_every_page(
    planted_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prose", "--root", str(planted_root), "--site", str(REPO / "site.yml")]) == 1
    out = capsys.readouterr().out
    for page, (_, line, _) in PLANTED.items():
        assert f"{page}, line {line}:" in out


def test_a_data_file_missing_a_partition_is_stale_on_the_page_that_shows_it(planted_root: Path) -> None:
    waiting = json.loads((REPO / "book" / "data" / "waiting-times.json").read_text(encoding="utf-8"))
    del waiting["measured_on"]["partitions"]["gpu"]
    (planted_root / "book" / "data" / "waiting-times.json").write_text(json.dumps(waiting), encoding="utf-8")
    (planted_root / "book" / "reference").mkdir()
    (planted_root / "book" / "reference" / "waits.md").write_text(
        "# Waits\n\n```{waiting-times} table\n```\n"
    )
    findings, _ = prose_findings(planted_root, str(REPO / "site.yml"), None, None)
    [stale] = [f for f in findings if f.kind == "stale data"]
    assert stale.where == "book/reference/waits.md, line 3"
    assert "partition gpu" in stale.claim and "before this partition existed" in stale.truth


def test_findings_become_failed_report_rows_per_page(planted_root: Path) -> None:
    findings, _ = prose_findings(planted_root, str(REPO / "site.yml"), None, None)
    rows = {row.page: row for row in prose_results(findings, pages_checked=6)}
    walltime = rows["book/recipes/walltime"]
    assert walltime.status == "failed" and walltime.kernel == "prose check"
    assert walltime.locations == ["line 5"] and walltime.owner == "software-team"
    [passed] = prose_results([], pages_checked=6)
    assert passed.status == "passed"


@pytest.mark.parametrize("site", [REPO / "site.yml", TINY], ids=["default", "tiny"])
def test_the_book_itself_contradicts_neither_site(site: Path) -> None:
    findings, _ = prose_findings(REPO, str(site), None, None)
    assert [f.line() for f in findings] == []


def test_names_a_page_creates_itself_are_not_claims(tmp_path: Path) -> None:
    (tmp_path / "book").mkdir()
    (tmp_path / "examples").mkdir()
    (tmp_path / "book" / "own.md").write_text(
        "Install it with `--name my-env`.\n\nPick the `my-env` kernel; the `nosuch` kernel is not there.\n"
    )
    vocabulary = build_vocabulary(load_profile(REPO / "site.yml"), None)
    kernels = [f.claim for f in check_prose(tmp_path, vocabulary) if "kernel" in f.claim]
    assert len(kernels) == 1 and "nosuch" in kernels[0]


def test_a_retired_name_is_kept_across_probes() -> None:
    snapshot = load_snapshot(REPO / "book" / "data" / "snapshot.json")
    assert snapshot is not None
    gcc = snapshot.modules.available["gcc"]
    older = snapshot.modules.model_copy(
        update={
            "available": {
                **snapshot.modules.available,
                "gcc": gcc.model_copy(update={"versions": ["11.1", *gcc.versions]}),
            }
        }
    )
    before = snapshot.model_copy(update={"modules": older})
    after = carry_retired(before, snapshot)
    assert after.retired.modules == ["gcc/11.1"]
    # A probe after that still knows it, although the previous snapshot no longer lists the version.
    assert carry_retired(after, snapshot).retired.modules == ["gcc/11.1"]


def test_stale_data_lists_what_refresh_measures_again(
    planted_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stale-data", "--root", str(planted_root), "--site", str(REPO / "site.yml")]) == 0
    waiting = json.loads((REPO / "book" / "data" / "waiting-times.json").read_text(encoding="utf-8"))
    waiting["measured_on"]["partitions"]["batch"] = 1
    (planted_root / "book" / "data" / "waiting-times.json").write_text(json.dumps(waiting), encoding="utf-8")
    capsys.readouterr()
    assert main(["stale-data", "--root", str(planted_root), "--site", str(REPO / "site.yml")]) == 1
    out = capsys.readouterr().out
    assert "partition batch: measured when it had 1 node(s); it has 4 now" in out
    assert "nox -s waiting-times -- generate" in out
