"""The bench's pure parts: the peers' command lines, the failure of a peer, the table and its ratios."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hpc_handbook.doc_ci.bench.dispatch import DispatchTiming, format_dispatch_table
from hpc_handbook.doc_ci.bench.peers import (
    LOWER_BOUND,
    PEERS,
    RUNNER,
    Peer,
    PeerContext,
    PeerFailed,
    Timing,
    executed_path,
    failure_reason,
    format_table,
    naive_commands,
    nbmake_commands,
    nbval_lax_commands,
    ratio,
    run_bench,
    time_peer,
)


@pytest.fixture
def context(tmp_path: Path) -> PeerContext:
    notebooks = [tmp_path / f"bench-{index:03d}.ipynb" for index in range(3)]
    return PeerContext(notebooks=notebooks, work_dir=tmp_path, kernel="python3", short_name="RCC", cores=2)


def _bare_context(work_dir: Path) -> PeerContext:
    return PeerContext(notebooks=[], work_dir=work_dir, kernel="k", short_name="S", cores=1)


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def _assert_isolated_pytest(command: list[str], context: PeerContext) -> None:
    assert command[:3] == [sys.executable, "-m", "pytest"]
    assert _option(command, "-p") == "no:cacheprovider"
    assert _option(command, "-o") == "addopts="
    assert _option(command, "--rootdir") == str(context.work_dir)


def test_nbmake_runs_every_notebook_over_the_cores_on_the_site_kernel(context: PeerContext) -> None:
    [command] = nbmake_commands(context)
    _assert_isolated_pytest(command, context)
    assert "--nbmake" in command
    assert "--nbmake-kernel=python3" in command
    assert _option(command, "-n") == "2"
    assert command[-3:] == [str(path) for path in context.notebooks]
    assert "--nbval" not in command and "--nbval-lax" not in command


def test_nbval_lax_runs_every_notebook_over_the_cores(context: PeerContext) -> None:
    [command] = nbval_lax_commands(context)
    _assert_isolated_pytest(command, context)
    assert "--nbval-lax" in command
    assert "--nbval" not in command and "--nbmake" not in command
    assert _option(command, "-n") == "2"
    # Cells of one notebook share a kernel only if xdist keeps them on one worker.
    assert _option(command, "--dist") == "loadscope"
    assert command[-3:] == [str(path) for path in context.notebooks]


def test_naive_runs_papermill_on_each_notebook_then_one_serial_nbval(context: PeerContext) -> None:
    commands = naive_commands(context)
    assert len(commands) == len(context.notebooks) + 1
    for command, notebook in zip(commands, context.notebooks, strict=False):
        assert command[:3] == [sys.executable, "-m", "papermill"]
        assert _option(command, "-k") == "python3"
        assert command[command.index("-p") + 1 : command.index("-p") + 3] == ["site_short_name", "RCC"]
        assert command[-2:] == [str(notebook), str(executed_path(notebook))]
    pytest_command = commands[-1]
    _assert_isolated_pytest(pytest_command, context)
    assert "--nbval" in pytest_command and "-n" not in pytest_command
    assert pytest_command[-3:] == [str(executed_path(path)) for path in context.notebooks]
    assert all(executed_path(path) != path for path in context.notebooks)


def test_peers_are_named_once_and_say_when_they_do_less_work() -> None:
    names = [peer.name for peer in PEERS]
    assert names == ["naive", "nbmake", "nbval-lax"]
    assert RUNNER not in names and LOWER_BOUND not in names
    notes = {peer.name: peer.note.format(cores=2) for peer in PEERS}
    assert "-n 2" in notes["nbmake"] and "compares no output" in notes["nbmake"]
    assert "-n 2" in notes["nbval-lax"] and "NBVAL_CHECK_OUTPUT" in notes["nbval-lax"]
    assert all("less work" in notes[name] for name in ("nbmake", "nbval-lax"))
    assert "less work" not in notes["naive"]


def test_a_failing_peer_fails_with_its_name_and_output(tmp_path: Path) -> None:
    failing = Peer(
        name="broken",
        commands=lambda _: [[sys.executable, "-c", "import sys; print('kernel missing'); sys.exit(3)"]],
        note="",
    )
    with pytest.raises(PeerFailed, match=r"(?s)broken failed \(exit 3\).*kernel missing"):
        time_peer(failing, _bare_context(tmp_path), env={})


def test_the_failure_reason_is_pytests_summary_not_the_exit_time_noise() -> None:
    output = "\n".join(
        [
            "....E",
            "FAILED bench-003.ipynb::Cell 1 - FileNotFoundError: [Errno 2] No such file or directory",
            "ERROR bench-004.ipynb::Cell 0 - RuntimeError: Kernel died before replying",
            "1 failed, 1 error in 3.2s",
            "Exception ignored in atexit callback",
            "AssertionError:",
        ]
    )
    reason = failure_reason(output)
    assert reason.splitlines() == output.splitlines()[1:3]
    assert "atexit" not in reason


def test_without_a_summary_the_failure_reason_is_the_last_lines() -> None:
    output = "\n".join(f"line {index}" for index in range(40)) + "\nPapermillExecutionError: boom\n"
    reason = failure_reason(output, lines=3)
    assert reason.splitlines() == ["line 38", "line 39", "PapermillExecutionError: boom"]


def test_a_peer_stops_at_its_first_failing_command(tmp_path: Path) -> None:
    marker = tmp_path / "second-ran"
    peer = Peer(
        name="two-step",
        commands=lambda _: [
            [sys.executable, "-c", "raise SystemExit(1)"],
            [sys.executable, "-c", f"open({str(marker)!r}, 'w')"],
        ],
        note="",
    )
    with pytest.raises(PeerFailed):
        time_peer(peer, _bare_context(tmp_path), env={})
    assert not marker.exists()


def test_a_passing_peer_is_timed(tmp_path: Path) -> None:
    sleep = [sys.executable, "-c", "import time; time.sleep(0.2)"]
    peer = Peer(name="ok", commands=lambda _: [sleep], note="")
    assert time_peer(peer, _bare_context(tmp_path), env={}) >= 0.2


def test_ratio_is_a_multiple_of_the_runner() -> None:
    assert ratio(65.0, 10.0) == "6.50x"
    assert ratio(8.0, 10.0) == "0.80x"


def test_table_gives_each_contender_its_ratio_and_the_runner_against_the_lower_bound() -> None:
    timings = [
        Timing(RUNNER, 10.0, "4 workers"),
        Timing(LOWER_BOUND, 8.0, "sum / 2 cores"),
        Timing("naive", 65.0, "serial"),
        Timing("nbmake", 25.0, "executes only"),
    ]
    table = format_table(timings, runner_seconds=10.0, lower_bound=8.0)
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["contender", "wall", "s", "vs"]
    assert set(lines[1]) == {"-"}
    rows = {line.split("  ")[0].strip(): line for line in lines[2:6]}
    assert "10.0" in rows[RUNNER] and "1.00x" in rows[RUNNER]
    assert "8.0" in rows[LOWER_BOUND] and "0.80x" in rows[LOWER_BOUND]
    assert "65.0" in rows["naive"] and "6.50x" in rows["naive"] and rows["naive"].endswith("serial")
    assert "2.50x" in rows["nbmake"]
    # The ratio column is right-aligned: every row's ratio ends at the same place.
    ends = {line.index("x ") for line in lines[2:6]}
    assert len(ends) == 1
    assert "the runner takes 1.25x the lower bound's time" in lines
    assert "naive takes 6.50x the runner's time" in lines
    assert "nbmake takes 2.50x the runner's time" in lines
    assert not any(line.startswith(f"{RUNNER} takes") for line in lines)


def test_bench_refuses_fewer_than_30_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_bench(count=29) == 2
    assert "at least 30" in capsys.readouterr().err


def test_dispatch_table_gives_ratios_and_the_most_uneven_repeat():
    timings = [
        DispatchTiming("local", 1, 4, 10.0),
        DispatchTiming("dispatch slurm", 1, 4, 11.0, ((32,), (32,))),
        DispatchTiming("dispatch slurm", 4, 1, 12.5, ((8, 8, 8, 8), (8, 9, 8, 7))),
    ]
    table = format_dispatch_table(timings, ["dispatch: 8 nodes left out"])
    local, one_node, four_nodes = table.splitlines()[2:5]
    assert local.startswith("local") and "10.0" in local
    assert "1.10x" in one_node and one_node.endswith("32 / 32")
    assert "1.25x" in four_nodes and four_nodes.endswith("8 8 8 8 / 8 9 8 7")
    assert "dispatch over 1 node(s): +10 %" in table
    assert (
        "dispatch over 4 node(s): +25 % against local at 4 workers in all; runs per node differ by at most 2"
        in table
    )
    assert table.endswith("dispatch: 8 nodes left out")
