"""The home guard on a home of its own in tmp_path: what a run adds goes, what it changes comes back.

The guard runs inside the doc-CI account's server on a real site; here the same functions
run on a folder that stands in for the home, and the script once as the server runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpc_handbook.doc_ci.run import home_guard
from hpc_handbook.doc_ci.run.hub_home import parse_result

RUN = "doc-ci-0123abcd"
EARLIER = "doc-ci-89abcdef"


def snapshot(home: Path) -> dict[str, object]:
    """Every entry below the home: a file's content, a link's target, a folder as such."""
    found: dict[str, object] = {}
    for path in sorted(home.rglob("*")):
        key = str(path.relative_to(home))
        if path.is_symlink():
            found[key] = ("link", os.readlink(path))
        elif path.is_dir():
            found[key] = "folder"
        else:
            found[key] = path.read_bytes()
    return found


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home" / "rcc-docci"
    (home / ".ipython" / "profile_default").mkdir(parents=True)
    (home / ".ipython" / "profile_default" / "history.sqlite").write_bytes(b"history" * 100)
    (home / ".npm" / "_logs").mkdir(parents=True)
    (home / ".npm" / "_logs" / "old-debug-0.log").write_text("npm\n")
    (home / ".bashrc").write_text("# bashrc\n")
    (home / "empty").mkdir()
    (home / "link").symlink_to(".bashrc")
    return home


def start(home: Path, run: str = RUN, since_ns: int | None = None) -> dict[str, object]:
    (home / run).mkdir(exist_ok=True)
    return home_guard.start(str(home), run, "rcc-docci", since_ns)


def a_run(home: Path, run: str = RUN) -> None:
    """What a run through the hub does to the home: folders, caches, logs, history."""
    venv = home / run / "recipe-venv-kernel-3" / "envs" / "my-env"
    (venv / "lib").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "lib" / "big.so").write_bytes(b"\0" * 200_000)
    (home / ".cache" / "pip" / "wheels").mkdir(parents=True)
    (home / ".cache" / "pip" / "wheels" / "tabulate.whl").write_bytes(b"wheel")
    (home / ".jupyter-server-17.log").write_text("SIGTERM received\n")
    with open(home / ".ipython" / "profile_default" / "history.sqlite", "ab") as history:
        history.write(b"more history")
    (home / ".npm" / "_logs" / "old-debug-0.log").unlink()  # npm's own rotation
    (home / "empty" / "new-file").write_text("x")


def test_finish_leaves_the_home_exactly_as_start_found_it(home: Path) -> None:
    before = snapshot(home)
    started = start(home)
    assert started["complete"] and started["entries"] == len(before)
    a_run(home)
    result = home_guard.finish(str(home), RUN)
    assert result["problems"] == []
    assert snapshot(home) == before
    assert ".cache" in result["removed"] and ".jupyter-server-17.log" in result["removed"]
    assert "empty/new-file" in result["removed"]
    assert set(result["restored"]) == {
        ".ipython/profile_default/history.sqlite",
        ".npm/_logs/old-debug-0.log",
    }
    assert result["folder_bytes"] >= 200_000  # the venv went with the run's folder


def test_a_file_back_from_its_copy_keeps_its_time_and_mode(home: Path) -> None:
    history = home / ".ipython" / "profile_default" / "history.sqlite"
    history.chmod(0o600)
    os.utime(history, ns=(1_000_000_000, 1_000_000_000))
    start(home)
    history.write_bytes(b"rewritten")
    history.chmod(0o644)
    home_guard.finish(str(home), RUN)
    assert history.stat().st_mtime_ns == 1_000_000_000
    assert history.stat().st_mode & 0o777 == 0o600


def test_what_the_runs_servers_made_before_the_record_goes_too(home: Path) -> None:
    before = snapshot(home)
    since = time.time_ns()
    time.sleep(0.02)
    # The login-node server starts before the record is taken: its files are the run's.
    (home / ".npm" / "_logs" / "new-debug-0.log").write_text("npm prefix -g\n")
    (home / ".local" / "share" / "jupyter" / "runtime").mkdir(parents=True)
    (home / ".local" / "share" / "jupyter" / "runtime" / "jpserver-7.json").write_text("{}")
    started = start(home, since_ns=since)
    assert started["entries"] == len(before)  # neither the new log nor the new folders are recorded
    home_guard.finish(str(home), RUN)
    assert snapshot(home) == before


def test_an_empty_folder_the_run_changed_before_the_record_stays(home: Path) -> None:
    since = time.time_ns()
    time.sleep(0.02)
    (home / "empty" / "gone-before-the-record").mkdir()
    (home / "empty" / "gone-before-the-record").rmdir()  # the folder changed, and is empty again
    start(home, since_ns=since)
    home_guard.finish(str(home), RUN)
    assert (home / "empty").is_dir()


def test_a_kernels_or_servers_file_that_went_with_it_is_not_brought_back(home: Path) -> None:
    runtime = home / ".local" / "share" / "jupyter" / "runtime"
    runtime.mkdir(parents=True)
    (runtime / "kernel-1a2b.json").write_text("{}")  # the kernel that runs the guard, where no terminal is
    (runtime / "jpserver-7.json").write_text("{}")
    start(home)
    (runtime / "kernel-1a2b.json").unlink()
    (runtime / "jpserver-7.json").unlink()
    result = home_guard.finish(str(home), RUN)
    assert result["problems"] == [] and result["restored"] == []
    assert list(runtime.iterdir()) == []


def test_a_killed_runs_record_puts_the_home_right_at_the_next_start(home: Path) -> None:
    before = snapshot(home)
    start(home, EARLIER)
    a_run(home, EARLIER)  # and then the run is killed: no finish
    started = start(home)
    [earlier] = started["earlier"]
    assert earlier["folder"] == EARLIER and earlier["folder_bytes"] >= 200_000
    assert not (home / EARLIER).exists()
    home_guard.finish(str(home), RUN)
    assert snapshot(home) == before


def test_a_changed_file_too_large_to_copy_is_a_problem(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(home_guard, "BACKUP_FILE_LIMIT", 10)
    start(home)
    (home / ".ipython" / "profile_default" / "history.sqlite").write_bytes(b"changed")
    result = home_guard.finish(str(home), RUN)
    history = ".ipython/profile_default/history.sqlite"
    assert result["problems"] == [f"{history} changed during the run, and it was too large to keep a copy of"]


def test_a_folder_that_cannot_be_removed_is_a_problem(home: Path) -> None:
    start(home)
    locked = home / RUN / "example-1" / "locked"
    locked.mkdir(parents=True)
    (locked / "file").write_text("x")
    locked.chmod(0o500)  # read-only: the guard makes it writable and removes it all the same
    result = home_guard.remove(str(home), [f"{RUN}/example-1"])
    assert result["problems"] == [] and not (home / RUN / "example-1").exists()
    if os.geteuid() == 0:
        return  # root removes anything; the failure below needs an ordinary account
    (home / RUN / "kept").mkdir()
    (home / RUN / "kept" / "file").write_text("x")
    (home / RUN).chmod(0o500)
    try:
        result = home_guard.remove(str(home), [f"{RUN}/kept"])
    finally:
        (home / RUN).chmod(0o700)
    assert result["problems"] and "cannot remove" in result["problems"][0]


def test_the_trash_of_earlier_runs_goes_and_the_rest_of_the_trash_stays(home: Path) -> None:
    trash = home / ".local" / "share" / "Trash"
    (trash / "info").mkdir(parents=True)
    (trash / "files" / "recipe-venv-kernel-3" / "envs").mkdir(parents=True)
    (trash / "files" / "recipe-venv-kernel-3" / "envs" / "x").write_bytes(b"\0" * 10_000)
    (trash / "info" / "recipe-venv-kernel-3.trashinfo").write_text(
        f"[Trash Info]\nPath={home}/{EARLIER}/recipe-venv-kernel-3\nDeletionDate=2026-12-01T00:00:00\n"
    )
    (trash / "files" / "notes.txt").write_text("mine")
    (trash / "info" / "notes.txt.trashinfo").write_text(f"[Trash Info]\nPath={home}/notes.txt\n")
    started = start(home)
    assert started["trash_bytes"] >= 10_000
    assert sorted(p.name for p in (trash / "files").iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in (trash / "info").iterdir()) == ["notes.txt.trashinfo"]


QUOTA = """Disk quotas for user rcc-docci (uid 1001):
     Filesystem  blocks   quota   limit   grace   files   quota   limit   grace
          /home  19000000* 20000000 21000000  6days   1200       0       0
      /scratch    100       0       0               3       0       0
"""
LFS = """     /lustre/home 5000 0 8000 - 12 0 0 -
"""


@pytest.mark.parametrize(
    ("output", "home", "left"),
    [
        (QUOTA, "/home/rcc-docci", 1_000_000 * 1024),  # the soft quota binds first
        (QUOTA, "/scratch/rcc-docci", None),  # no limit there
        (LFS, "/lustre/home/rcc-docci", 3000 * 1024),
        ("Disk quotas for user rcc-docci (uid 1001): none\n", "/home/rcc-docci", None),
        (QUOTA.replace("19000000*", "22000000*"), "/home/rcc-docci", 0),  # over its limit: no room
    ],
)
def test_the_quota_left_is_read_from_quota_and_lfs(output: str, home: str, left: int | None) -> None:
    assert home_guard.quota_left(output, home) == left


def test_room_reports_the_free_space(home: Path) -> None:
    found = home_guard.room(str(home), "nobody-here")
    assert found["free"] > 0


def test_the_script_runs_alone_and_prints_a_result_the_runner_reads(home: Path) -> None:
    """As the server runs it: a plain Python with nothing of the handbook installed."""
    (home / RUN).mkdir()
    done = subprocess.run(
        [sys.executable, "-I", home_guard.__file__, "start", str(home), RUN, "rcc-docci", "-"],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    result = parse_result("echo of the command\r\n" + done.stdout)
    assert result["complete"] is True and result["free"] > 0
    done = subprocess.run(
        [sys.executable, "-I", home_guard.__file__, "finish", str(home), RUN],
        capture_output=True,
        text=True,
        check=True,
    )
    assert parse_result(done.stdout)["problems"] == []
    assert not (home / RUN).exists()
