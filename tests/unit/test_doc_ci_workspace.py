"""Where a run works: its room, removal for good, failing folders kept within bounds, and the report."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from pathlib import Path

import pytest

from hpc_handbook.data.examples_report import Cleanup, KeptFolder, load_examples_report
from hpc_handbook.doc_ci.report import markdown_report, write_reports
from hpc_handbook.doc_ci.run import workspace
from hpc_handbook.doc_ci.run.execute import JobResult
from hpc_handbook.doc_ci.run.home_guard import RESULT_MARKER
from hpc_handbook.doc_ci.run.hub_home import (
    GuardError,
    parse_result,
    record_finish,
    record_start,
    shell_command,
)
from hpc_handbook.hub.terminal import command_line, output_of
from hpc_handbook.profile import Profile, load_profile

REPO = Path(__file__).resolve().parents[2]
GB = workspace.GB


@pytest.fixture
def profile() -> Profile:
    return load_profile(REPO / "site.yml")


# --- Room -------------------------------------------------------------------------------


def test_the_profile_says_how_much_room_a_run_needs(profile: Profile) -> None:
    assert profile.doc_ci.space_needed_gb == 1.0


@pytest.mark.parametrize(
    ("free", "quota_left", "expected"),
    [
        (5 * GB, None, None),
        (5 * GB, 2 * GB, None),
        (GB // 2, None, "the home of rcc-docci has 0.5 GB free; a run needs about 1.0 GB"),
        (5 * GB, GB // 4, "the home of rcc-docci has 0.2 GB left in its quota; a run needs about 1.0 GB"),
    ],
)
def test_a_run_without_room_is_refused_with_where_and_how_much(
    free: int, quota_left: int | None, expected: str | None
) -> None:
    assert (
        workspace.room_problem(where="the home of rcc-docci", free=free, quota_left=quota_left, needed=GB)
        == expected
    )


def test_a_direct_run_checks_its_temporary_folder(tmp_path: Path) -> None:
    workspace.check_local_room(tmp_path, 1)
    with pytest.raises(workspace.NoRoomError, match=r"doc_ci.space_needed_gb"):
        workspace.check_local_room(tmp_path, 10**18)


# --- Removal for good -------------------------------------------------------------------


def test_removal_for_good_takes_read_only_folders_too(tmp_path: Path) -> None:
    cache = tmp_path / "run" / "example-1" / "go" / "pkg"
    cache.mkdir(parents=True)
    (cache / "mod.go").write_text("package x\n")
    cache.chmod(0o500)
    assert workspace.tree_bytes(tmp_path / "run") > 0
    assert workspace.remove_for_good(tmp_path / "run") == []
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root removes anything; the failure needs an ordinary account")
def test_a_removal_that_fails_is_named(tmp_path: Path) -> None:
    (tmp_path / "run" / "kept").mkdir(parents=True)
    (tmp_path / "run" / "kept" / "file").write_text("x")
    tmp_path.chmod(0o500)
    try:
        problems = workspace.remove_for_good(tmp_path / "run")
    finally:
        tmp_path.chmod(0o700)
    assert problems and "cannot remove" in problems[0]


# --- Failing folders kept ---------------------------------------------------------------


def a_failed_folder(root: Path) -> Path:
    folder = root / "recipe-dask-jobqueue-x1"
    (folder / "dask-logs").mkdir(parents=True)
    (folder / "dask-logs" / "dask-worker-12.out").write_text("worker died\n")
    (folder / "slurm-12.out").write_text("srun: error\n")
    (folder / "envs" / "dask" / "lib").mkdir(parents=True)
    (folder / "envs" / "dask" / "lib" / "module.py").write_text("x = 1\n")
    (folder / "my-venv" / "lib").mkdir(parents=True)
    (folder / "my-venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (folder / "data.bin").write_bytes(b"\0" * (workspace.KEEP_FILE_LIMIT + 1))
    return folder


def test_a_failing_folder_is_kept_without_environments_or_large_files(tmp_path: Path) -> None:
    keeper = workspace.Keeper(tmp_path / "reports" / "failed")
    kept = keeper.keep_local(a_failed_folder(tmp_path), example="recipe-dask-jobqueue", kernel="python3")
    assert kept == KeptFolder(path="failed/recipe-dask-jobqueue-python3", files=2, bytes=24, left_out=3)
    copied = tmp_path / "reports" / "failed" / "recipe-dask-jobqueue-python3"
    assert sorted(str(p.relative_to(copied)) for p in copied.rglob("*") if p.is_file()) == [
        "dask-logs/dask-worker-12.out",
        "slurm-12.out",
    ]


def test_what_is_kept_stays_within_the_runs_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workspace, "KEEP_TOTAL_LIMIT", 30)
    keeper = workspace.Keeper(tmp_path / "failed")
    first = keeper.keep_local(a_failed_folder(tmp_path / "a"), example="a", kernel="k")
    second = keeper.keep_local(a_failed_folder(tmp_path / "b"), example="b", kernel="k")
    assert first is not None and first.files == 2
    assert second is None  # nothing left of the run's bound
    assert keeper.reset() == [] and not (tmp_path / "failed").exists()


class FakeContents:
    """A server's contents API over a local folder, as `HubClient.server_api` answers it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def server_api(self, user: str, server: str, path: str, method: str = "GET", **_: object) -> object:
        relative, _, query = path.removeprefix("/contents/").partition("?")
        local = self.root / relative
        if "type=file" in query:
            return {"content": base64.b64encode(local.read_bytes()).decode()}
        return {
            "content": [
                {
                    "name": child.name,
                    "path": f"{relative}/{child.name}",
                    "type": "directory" if child.is_dir() else "file",
                    "size": None if child.is_dir() else child.stat().st_size,
                }
                for child in sorted(local.iterdir())
            ]
        }


def test_a_failing_folder_in_the_accounts_home_is_kept_through_the_contents_api(tmp_path: Path) -> None:
    home = tmp_path / "home"
    a_failed_folder(home / "doc-ci-0123abcd")
    keeper = workspace.Keeper(tmp_path / "failed")
    kept = keeper.keep_from_server(
        FakeContents(home),  # type: ignore[arg-type]
        "rcc-docci",
        "doc-ci-login",
        "doc-ci-0123abcd/recipe-dask-jobqueue-x1",
        example="recipe-dask-jobqueue",
        kernel="python3",
    )
    assert kept == KeptFolder(path="failed/recipe-dask-jobqueue-python3", files=2, bytes=24, left_out=3)
    assert (
        tmp_path / "failed" / "recipe-dask-jobqueue-python3" / "slurm-12.out"
    ).read_text() == "srun: error\n"


# --- The guard's results, as the runner reads them -----------------------------------------


def test_the_guards_result_is_read_from_what_the_terminal_showed() -> None:
    encoded = base64.b64encode(json.dumps({"problems": []}).encode()).decode()
    shown = f'PY=$(readlink ...) "$PY" guard.py finish\r\n{RESULT_MARKER} {encoded}\r\n$ '
    assert parse_result(shown) == {"problems": []}
    with pytest.raises(GuardError, match=r"no result .*Traceback"):
        parse_result("Traceback (most recent call last):\r\n")


def test_the_guards_command_quotes_its_arguments() -> None:
    command = shell_command(
        "/home/rcc docci/doc-ci-0123abcd/guard/home_guard.py", ["remove", "a b; rm -rf ~"]
    )
    assert "'/home/rcc docci/doc-ci-0123abcd/guard/home_guard.py' remove 'a b; rm -rf ~'" in command


def test_a_commands_end_is_found_in_the_output_never_in_its_echo() -> None:
    typed = command_line("rm -rf folder", "abc123")
    assert output_of(typed, "abc123") is None  # the terminal echoes what was typed first
    assert output_of(typed + "HANDBOOK-TERMINAL-DONE-abc123-1\r\n", "abc123") == (1, typed)


def test_the_guards_findings_go_into_the_cleanup_record() -> None:
    cleanup = Cleanup(where="the home of rcc-docci", needed_bytes=GB)
    record_start(
        cleanup,
        {
            "free": 3 * GB,
            "quota_left": None,
            "earlier": [
                {
                    "folder": "doc-ci-89abcdef",
                    "folder_bytes": 700_000_000,
                    "removed_count": 4,
                    "restored_count": 1,
                }
            ],
            "trash_bytes": 0,
            "problems": [],
        },
    )
    record_finish(
        cleanup,
        {
            "folder_bytes": 600_000_000,
            "removed_bytes": 50_000_000,
            "removed": [".cache"],
            "removed_count": 1,
            "restored": [".ipython/profile_default/history.sqlite"],
            "restored_count": 1,
            "problems": ["cannot remove doc-ci-0123abcd/x: Permission denied"],
        },
    )
    assert cleanup.free_bytes == 3 * GB and cleanup.removed_bytes == 650_000_000
    assert cleanup.earlier == [
        "doc-ci-89abcdef: a run that was killed; removed 0.7 GB of its folder and 4 other entries, "
        "and put back 1 files"
    ]
    assert cleanup.problems == ["cannot remove doc-ci-0123abcd/x: Permission denied"]


# --- The report -------------------------------------------------------------------------


def test_the_report_says_where_the_run_worked_and_what_it_could_not_remove(
    profile: Profile, tmp_path: Path
) -> None:
    failed = JobResult(
        example="recipe-dask-jobqueue",
        kernel="python3",
        status="failed",
        reason="cell 4 raised an error: TimeoutError",
        cell=4,
        kept=KeptFolder(path="failed/recipe-dask-jobqueue-python3", files=2, bytes=24, left_out=3),
    )
    cleanup = Cleanup(
        where="the home of rcc-docci, /home/rcc-docci",
        free_bytes=3 * GB,
        quota_left_bytes=GB * 19,
        needed_bytes=GB,
        removed_bytes=700_000_000,
        removed=[".cache"],
        removed_count=1,
        restored_count=1,
        problems=["cannot remove doc-ci-0123abcd/x: Permission denied"],
    )
    text = markdown_report([failed], profile=profile, when=dt.datetime(2026, 12, 6, 3, 0), cleanup=cleanup)
    assert (
        "The run worked in the home of rcc-docci, /home/rcc-docci (3.0 GB free, 19.0 GB left in the quota; "
        "1.0 GB needed) and removed 0.7 GB at its end, among it 1 entry that appeared during the run, "
        "and put back 1 file that changed."
    ) in text
    assert "- cannot remove doc-ci-0123abcd/x: Permission denied" in text
    assert (
        "Its working folder is kept in `failed/recipe-dask-jobqueue-python3` (2 files, 0 MB; 3 left out"
        in text
    )
    paths = write_reports([failed], profile=profile, directory=tmp_path, cleanup=cleanup)
    report = load_examples_report(paths["json"])
    assert report is not None and report.cleanup == cleanup
    assert report.results[0].kept == failed.kept
