"""Nothing piles up: every doc-CI run through the hub leaves the doc-CI account's home as it found it.

Three runs as the doc CI's account, in its servers: one that passes, one interrupted with
Ctrl-C while an example hangs, and one with a failing example. Their examples write what
examples write (folders, a job's output, a cache in the home, an edit of a dotfile) and the
kernels fill IPython's history; the servers write their logs. After each run the home holds
the same entries with the same sizes as before the first.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpc_handbook.doc_ci.run.runner import run_examples
from hpc_handbook.profile import Profile

from .conftest import REPO, WriteExample
from .test_committed_examples import account_leftovers

pytestmark = [
    pytest.mark.site,
    pytest.mark.slurm,
    pytest.mark.slow,
    pytest.mark.usefixtures("leaves_nothing_behind"),
]

#: npm keeps at most this many logs, deleting its oldest when a server's start adds one.
NPM_LOGS_MAX = 10


def home_of(profile: Profile) -> Path:
    assert profile.hub is not None, "the default profile names the reference site's hub"
    pattern = next(f.path for f in profile.filesystems if f.name == "home")
    return Path(pattern.replace("$USER", profile.hub.doc_ci_user))


def entries(home: Path) -> dict[str, tuple[str, int]]:
    """Every entry of the home: a file with its size, a link with its target's length, a folder."""
    found = {}
    for folder, folders, files in os.walk(home):
        for name in [*folders, *files]:
            path = Path(folder, name)
            info = path.lstat()
            kind = "link" if path.is_symlink() else "folder" if path.is_dir() else "file"
            found[str(path.relative_to(home))] = (kind, 0 if kind == "folder" else info.st_size)
    return found


def difference(before: dict[str, tuple[str, int]], after: dict[str, tuple[str, int]]) -> dict[str, object]:
    return {
        "new": sorted(set(after) - set(before)),
        "gone": sorted(set(before) - set(after)),
        "changed": sorted(p for p in set(before) & set(after) if before[p] != after[p]),
    }


@pytest.fixture
def home(profile: Profile) -> Path:
    """The account's home, with room for the logs that npm writes at each server's start.

    The login-node server starts before the run records the home; at npm's limit its log
    would push out the oldest one before the record, which no run can put back.
    """
    home = home_of(profile)
    # A run's folder left by an older version of the doc CI is removed by the next run's start;
    # this test is about what its own runs leave, so such folders go before the record.
    for leftover in home.glob("doc-ci-*"):
        shutil.rmtree(leftover)
    logs = sorted((home / ".npm" / "_logs").glob("*.log"), key=lambda p: p.stat().st_mtime)
    for old in logs[: max(0, len(logs) - (NPM_LOGS_MAX - 2))]:
        old.unlink()
    return home


def write_examples(write_example: WriteExample, profile: Profile) -> None:
    batch = profile.batch_partition.name
    # On the login node: a cache in the home, a line added to a dotfile, a job's output in its folder.
    write_example(
        "writes-into-the-home",
        [
            "from pathlib import Path\n"
            "cache = Path.home() / '.cache' / 'handbook-home-test'\n"
            "cache.mkdir(parents=True, exist_ok=True)\n"
            "_ = (cache / 'data.bin').write_bytes(bytes(5_000_000))\n"
            "with open(Path.home() / '.bashrc', 'a') as bashrc:\n"
            "    _ = bashrc.write('# added by an example\\n')",
            "import subprocess\n"
            "_ = subprocess.run(\n"
            f"    ['sbatch', '--wait', '--partition={batch}', '--time=2', '--output=job.out',\n"
            "     '--wrap', 'head -c 20000000 /dev/zero > big.bin'], check=True, capture_output=True)",
        ],
        requires=["slurm"],
    )
    # In a server that is a Slurm job on the batch partition, whose log goes into the home.
    write_example(
        "on-the-batch-partition",
        ["from pathlib import Path\n_ = (Path.home() / 'handbook-home-test.txt').write_text('x' * 1000)"],
        runs_on={"partition": batch, "walltime": "00:10:00"},
    )


def test_three_runs_leave_the_doc_ci_accounts_home_as_they_found_it(
    profile: Profile, home: Path, write_example: WriteExample, examples_dir: Path, tmp_path: Path
) -> None:
    write_examples(write_example, profile)
    before = entries(home)

    passing = run_examples(profile=profile, examples_dir=examples_dir, through_hub=True)
    assert [(r.example, r.status, r.reason) for r in passing.failed] == []
    assert passing.cleanup.problems == []
    assert passing.cleanup.removed_bytes > 20_000_000  # the job's output, at least
    assert difference(before, entries(home)) == {"new": [], "gone": [], "changed": []}

    interrupted_examples = tmp_path / "interrupted"
    interrupted_examples.mkdir()
    (interrupted_examples / "sanitize.cfg").write_bytes((examples_dir / "sanitize.cfg").read_bytes())
    started = home / "handbook-home-test-started"
    mark_started = f"from pathlib import Path\n_ = Path({str(started)!r}).write_text('x')"
    write_example("hangs", [mark_started, "import time\ntime.sleep(600)"], timeout=600).rename(
        interrupted_examples / "hangs.ipynb"
    )
    finished = interrupt_when_started(interrupted_examples, started)
    assert finished.returncode == 130, finished.stderr
    assert "cleanup failed" not in finished.stderr
    assert difference(before, entries(home)) == {"new": [], "gone": [], "changed": []}

    write_example(
        "fails", ["_ = open('left-for-diagnosis.txt', 'w').write('why')", "raise RuntimeError('on purpose')"]
    )
    failing = run_examples(
        profile=profile, examples_dir=examples_dir, through_hub=True, keep_dir=tmp_path / "reports" / "failed"
    )
    [failed] = failing.failed
    assert failed.example == "fails" and "RuntimeError: on purpose" in failed.reason
    assert failed.kept is not None
    assert (tmp_path / "reports" / failed.kept.path / "left-for-diagnosis.txt").read_text() == "why"
    assert failing.cleanup.problems == []
    assert difference(before, entries(home)) == {"new": [], "gone": [], "changed": []}
    assert entries(home) == before  # same files, same sizes
    assert profile.hub is not None
    assert account_leftovers(profile.hub.doc_ci_user) == ("", "")


RUNNER_SCRIPT = """
import sys
from pathlib import Path
from hpc_handbook.doc_ci.run.runner import RunInterrupted, run_examples
from hpc_handbook.profile import load_profile
try:
    run_examples(profile=load_profile(sys.argv[1]), examples_dir=Path(sys.argv[2]), through_hub=True)
except RunInterrupted as interrupted:
    for problem in interrupted.cleanup.problems:
        print(f"cleanup failed: {problem}", file=sys.stderr)
    sys.exit(130)
"""


def interrupt_when_started(examples_dir: Path, started: Path) -> subprocess.CompletedProcess[str]:
    """Run the doc CI through the hub, Ctrl-C it once the example runs, and wait for it to clean up."""
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER_SCRIPT, str(REPO / "site.yml"), str(examples_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not started.exists():
            assert runner.poll() is None, runner.communicate()
            assert time.monotonic() < deadline, "the hanging example never started"
            time.sleep(0.5)
        runner.send_signal(signal.SIGINT)
        stdout, stderr = runner.communicate(timeout=600)
    finally:
        runner.kill()
    return subprocess.CompletedProcess(runner.args, runner.returncode, stdout, stderr)
