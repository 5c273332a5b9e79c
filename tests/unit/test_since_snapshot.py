"""`examples --since-snapshot`: which examples a system change can affect, and the order they run in."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

from hpc_handbook.cli import build_parser, main
from hpc_handbook.data.snapshot import (
    Snapshot,
    dump_snapshot,
)
from hpc_handbook.doc_ci.command import _since_snapshot_order
from hpc_handbook.doc_ci.plan.since_snapshot import (
    SincePlan,
    format_plan,
    new_findings,
    plan_since_snapshot,
    system_changes,
)
from hpc_handbook.doc_ci.run import planning, runner
from hpc_handbook.drift.findings import Drift
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.examples.contract import Example, load_example
from hpc_handbook.profile import Profile, load_profile

from .site_snapshot import matching_snapshot

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile(REPO / "site.yml")


def changed(profile: Profile, change: Callable[[Snapshot], object]) -> tuple[Snapshot, Snapshot]:
    """The baseline and a snapshot taken after `change`, on a later day."""
    baseline = matching_snapshot(profile)
    snapshot = baseline.model_copy(deep=True, update={"taken": dt.date(2026, 12, 2)})
    change(snapshot)
    return baseline, snapshot


@pytest.fixture
def write(tmp_path: Path, profile: Profile) -> Callable[..., Example]:
    """Write an example that follows the contract and load it as the runner does."""
    (tmp_path / "examples").mkdir()

    def write_example(
        name: str,
        *,
        kernels: tuple[str, ...] = ("role:python",),
        parameters: str = 'site_short_name = "RCC"',
        code: str = "print(1)",
        prose: str = "Run it.",
        **meta: Any,
    ) -> Example:
        notebook = nbformat.v4.new_notebook()
        notebook.metadata = {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "handbook": {
                "audience": "expert",
                "kernels": list(kernels),
                "runs_on": "login",
                "requires": [],
                "timeout": 60,
                "owner": "test-team",
                **meta,
            },
        }
        parameters_cell = nbformat.v4.new_code_cell(parameters)
        parameters_cell.metadata["tags"] = ["parameters"]
        notebook.cells = [
            nbformat.v4.new_markdown_cell(f"# {name}\n\n{prose}"),
            parameters_cell,
            nbformat.v4.new_code_cell(code),
        ]
        path = tmp_path / "examples" / f"{name}.ipynb"
        nbformat.write(notebook, path)
        return load_example(path, profile)

    return write_example


def plan(
    profile: Profile,
    examples: list[Example],
    change: Callable[[Snapshot], object],
    findings: list[Drift] | None = None,
) -> SincePlan:
    baseline, snapshot = changed(profile, change)
    return plan_since_snapshot(
        examples, profile=profile, snapshot=snapshot, baseline=baseline, findings=findings or []
    )


def first(result: SincePlan) -> dict[str, tuple[str, ...]]:
    return {p.name: p.reasons for p in result.first}


# --- Nothing changed ----------------------------------------------------------------------


def test_an_unchanged_site_keeps_the_usual_order_and_says_so(profile: Profile, write: Callable) -> None:
    examples = [write("a"), write("b", parameters="batch_partition = 'batch'")]
    result = plan(profile, examples, lambda s: None)  # only the date differs
    assert result.changes == () and result.first == () and result.order == []
    assert [p.name for p in result.rest] == ["a", "b"]
    [line] = format_plan(result, compared="new against old")
    assert "nothing changed" in line and "usual order" in line


def test_a_change_no_example_uses_moves_none_but_is_listed(profile: Profile, write: Callable) -> None:
    def change(s: Snapshot) -> None:
        s.partitions["largemem"].state = "DOWN"

    result = plan(profile, [write("a")], change)
    assert result.order == []
    lines = format_plan(result, compared="x")
    assert "partition largemem" in lines[0]
    assert "no example uses what changed" in lines[1]


def test_a_jupyterlab_update_concerns_every_example_alike_so_it_moves_none(
    profile: Profile, write: Callable
) -> None:
    result = plan(profile, [write("a")], lambda s: s.jupyter.packages.update(jupyterlab="4.7.0"))
    assert [c.kind for c in result.changes] == ["jupyter"]
    assert result.order == []


# --- Kernels ------------------------------------------------------------------------------


def test_an_example_on_a_kernel_whose_python_changed_runs_first(profile: Profile, write: Callable) -> None:
    examples = [write("on-stack", kernels=("role:modules",)), write("on-python")]
    result = plan(
        profile, examples, lambda s: setattr(s.kernels["python3-stack"], "language_version", "3.12.1")
    )
    assert list(first(result)) == ["on-stack"]
    [reason, *_] = first(result)["on-stack"]
    assert reason == "kernel python3-stack changed (Python 3.11.2 → 3.12.1)"
    assert [p.name for p in result.rest] == ["on-python"]


def test_a_kernel_that_stopped_answering_counts_though_the_changelog_leaves_it_out(
    profile: Profile, write: Callable
) -> None:
    def change(s: Snapshot) -> None:
        s.kernels["ir"].error = "the kernel did not answer within 120 s"
        s.kernels["ir"].language_version = None

    result = plan(profile, [write("r", kernels=("role:r",), parameters="site_short_name <- 'RCC'")], change)
    assert first(result) == {"r": ("kernel ir stopped answering",)}


def test_a_kernelspec_edited_without_a_new_version_counts(profile: Profile, write: Callable) -> None:
    result = plan(profile, [write("a")], lambda s: setattr(s.kernels["python3"], "fingerprint", "f" * 16))
    assert first(result) == {"a": ("kernel python3 changed (kernelspec)",)}


def test_a_lost_kernel_moves_its_examples_and_those_that_list_the_kernels(
    profile: Profile, write: Callable
) -> None:
    listing = 'kernel_names = ["python3", "bash", "ir", "python3-stack", "python3-batch"]'
    examples = [
        write("lists", parameters=listing),
        write("r", kernels=("role:r",), parameters="site_short_name <- 'RCC'"),
    ]
    result = plan(profile, examples, lambda s: s.kernels.pop("ir"))
    assert set(first(result)) == {"lists", "r"}
    assert "kernel ir lost" in first(result)["r"]


def test_a_new_version_of_a_kernel_does_not_move_an_example_that_only_lists_kernel_names(
    profile: Profile, write: Callable
) -> None:
    listing = 'kernel_names = ["python3", "bash", "ir", "python3-stack", "python3-batch"]'
    result = plan(
        profile, [write("lists", parameters=listing)], lambda s: s.kernels["ir"].packages.update(IRkernel="2")
    )
    assert result.order == []


def test_a_kernel_gone_from_users_servers_moves_its_examples(profile: Profile, write: Callable) -> None:
    def change(s: Snapshot) -> None:
        assert s.hub is not None and s.hub.server_kernels is not None
        s.hub.server_kernels.remove("python3")

    result = plan(profile, [write("a"), write("stack", kernels=("role:modules",))], change)
    assert first(result) == {"a": ("kernel python3 lost from users' servers",)}


def test_an_example_that_names_the_slurm_kernel_in_its_parameters_runs_first(
    profile: Profile, write: Callable
) -> None:
    example = write("spawns", parameters='slurm_kernel = "python3-batch"')
    result = plan(profile, [example], lambda s: s.kernels["python3-batch"].packages.update(ipykernel="7"))
    assert list(first(result)) == ["spawns"]


# --- Partitions ---------------------------------------------------------------------------


def test_a_partition_down_moves_what_runs_on_it_or_names_it_or_uses_a_kernel_on_it(
    profile: Profile, write: Callable
) -> None:
    examples = [
        write("placed", runs_on={"partition": "role:batch", "walltime": "00:05:00"}),
        write("submits", parameters='batch_partition = "batch"'),
        write("walltime", parameters='batch_max_walltime = "24:00:00"'),
        write("batch-kernel", kernels=("python3-batch",)),
        write("interactive", parameters='interactive_partition = "interactive"'),
        write("login"),
    ]
    result = plan(profile, examples, lambda s: setattr(s.partitions["batch"], "state", "DOWN"))
    assert set(first(result)) == {"placed", "submits", "walltime", "batch-kernel"}
    assert first(result)["submits"] == ("partition batch changed (State UP → DOWN)",)
    assert {p.name for p in result.rest} == {"interactive", "login"}


def test_a_lost_partition_is_named_lost(profile: Profile, write: Callable) -> None:
    result = plan(
        profile, [write("s", parameters='batch_partition = "batch"')], lambda s: s.partitions.pop("batch")
    )
    assert first(result)["s"][0] == "partition batch lost"


# --- Modules and services -----------------------------------------------------------------


def test_a_module_change_moves_what_loads_it_by_parameter_or_through_its_kernel(
    profile: Profile, write: Callable
) -> None:
    def change(s: Snapshot) -> None:
        s.modules.available["gcc"].versions.append("13.2")
        s.modules.available["gcc"].default = "13.2"

    examples = [
        write("compiler", parameters='compiler_module = "gcc/12.2"'),
        write("stack", kernels=("role:modules",)),
        write(
            "all-modules", parameters='relied_on_modules = ["gcc/12.2", "python-stack/2024.1", "hdf5/1.14"]'
        ),
        write("hdf5", parameters='hdf5_module = "hdf5/1.14"'),
        write("plain"),
    ]
    result = plan(profile, examples, change)
    assert set(first(result)) == {"compiler", "stack", "all-modules"}
    assert first(result)["compiler"] == ("module gcc changed (gcc/13.2 added; default 12.2 → 13.2)",)


def test_a_module_removed_altogether_is_lost(profile: Profile, write: Callable) -> None:
    result = plan(
        profile,
        [write("hdf5", parameters='library_module = "hdf5/1.14"')],
        lambda s: s.modules.available.pop("hdf5"),
    )
    assert first(result) == {"hdf5": ("module hdf5 lost",)}


def test_a_slurm_or_lmod_update_moves_what_needs_slurm_or_lmod(profile: Profile, write: Callable) -> None:
    examples = [
        write("needs-slurm", requires=["slurm"]),
        write("needs-lmod", requires=["lmod"]),
        write("module-kernel", kernels=("role:modules",)),
        write("plain"),
    ]
    slurm = plan(profile, examples, lambda s: setattr(s.versions, "slurm", "23.02.1"))
    assert set(first(slurm)) == {"needs-slurm"}
    assert first(slurm)["needs-slurm"] == ("service slurm changed (version 22.05.8 → 23.02.1)",)
    lmod = plan(profile, examples, lambda s: setattr(s.modules, "error", "lmod: command not found"))
    assert set(first(lmod)) == {"needs-lmod", "module-kernel"}


# --- The drift check's pages --------------------------------------------------------------


def hdf5_missing(*pages: str) -> Drift:
    message = "relied on by the handbook, but Lmod does not offer it"
    return Drift("module", "hdf5/1.14", "missing", message, pages=pages)


def test_a_page_the_drift_check_names_runs_after_the_direct_ones_when_its_code_uses_the_value(
    profile: Profile, write: Callable
) -> None:
    examples = [
        write("loads-by-hand", code="!module load hdf5/1.14", timeout=600),
        write("says-it", prose="This page mentions hdf5/1.14 in its prose only."),
        write("library", parameters='library_module = "hdf5/1.14"', timeout=30),
    ]
    pages = [f"examples/{name}.ipynb" for name in ("loads-by-hand", "says-it", "library")]
    result = plan(profile, examples, lambda s: s.modules.available.pop("hdf5"), [hdf5_missing(*pages)])
    # The direct one first, though its timeout is shorter; a mention in prose cannot break a cell.
    assert result.order == ["library", "loads-by-hand"]
    assert first(result)["library"] == ("module hdf5 lost",)
    assert first(result)["loads-by-hand"] == (
        "its code names module hdf5/1.14: relied on by the handbook, but Lmod does not offer it",
    )


def test_only_findings_the_baseline_did_not_have_count(profile: Profile) -> None:
    def change(s: Snapshot) -> None:
        s.partitions["largemem"].state = "DOWN"
        s.kernels["ir"].error = "no answer"

    baseline, snapshot = changed(profile, change)
    baseline.partitions["largemem"].state = "DOWN"  # down before the update too: not new
    found = {(d.kind, d.name, d.check) for d in new_findings(profile, snapshot, baseline)}
    assert found == {("kernel", "ir", "broken")}


def test_new_findings_name_the_example_pages_that_show_the_value(profile: Profile, tmp_path: Path) -> None:
    (tmp_path / "book").mkdir()
    (tmp_path / "examples").mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("!module load hdf5/1.14")]
    nbformat.write(notebook, tmp_path / "examples" / "loads.ipynb")
    baseline, snapshot = changed(profile, lambda s: s.modules.available.pop("hdf5"))
    [finding] = new_findings(profile, snapshot, baseline, root=tmp_path)
    assert finding.pages == ("examples/loads.ipynb",)


# --- Order --------------------------------------------------------------------------------


def test_what_is_lost_or_down_runs_before_what_merely_changed_then_longest_timeouts(
    profile: Profile, write: Callable
) -> None:
    def change(s: Snapshot) -> None:
        s.partitions["batch"].state = "DRAIN"
        s.modules.available["gcc"].default = "13.2"

    examples = [
        write("compiler-long", parameters='compiler_module = "gcc/12.2"', timeout=600),
        write("compiler-short", parameters='compiler_module = "gcc/12.2"', timeout=30),
        write("batch-short", parameters='batch_partition = "batch"', timeout=30),
        write("batch-long", parameters='batch_partition = "batch"', timeout=300),
        write("plain"),
    ]
    result = plan(profile, examples, change)
    assert result.order == ["batch-long", "batch-short", "compiler-long", "compiler-short"]
    lines = format_plan(result, compared="x")
    assert lines[1] == "first: batch-long (partition batch changed (State UP → DRAIN))"
    assert lines[-1] == "then: the other 1 example in the usual order"


def test_system_changes_ignore_the_date_of_the_probe(profile: Profile) -> None:
    baseline, snapshot = changed(profile, lambda s: None)
    assert snapshot.taken != baseline.taken
    assert system_changes(baseline, snapshot) == []


def test_the_runner_starts_the_named_examples_first_in_that_order(
    profile: Profile, write: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    examples = [
        write("a", timeout=600),
        write("b", timeout=30),
        write("c", timeout=300),
        write("d", timeout=60),
    ]
    jobs, _ = planning.plan_jobs(examples, {})
    started: list[str] = []

    async def fake_execute(example: Example, kernel: str, context: object, *, job_index: int) -> Any:
        started.append(example.name)
        return runner.JobResult.for_example(example, kernel, "passed", "")

    monkeypatch.setattr(runner, "execute_example", fake_execute)
    ranked = planning.put_first(jobs, ["d", "b"])
    asyncio.run(runner._run_jobs(ranked, object(), 1, lambda result: None))  # type: ignore[arg-type]
    assert started == ["d", "b", "a", "c"]  # then the rest, longest timeouts first
    started.clear()
    asyncio.run(runner._run_jobs(planning.put_first(jobs, []), object(), 1, lambda result: None))  # type: ignore[arg-type]
    assert started == ["a", "c", "d", "b"]


# --- The command --------------------------------------------------------------------------


def test_the_flag_takes_an_optional_path(profile: Profile) -> None:
    args = build_parser().parse_args(["examples", "--since-snapshot"])
    assert args.since_snapshot == "book/data/snapshot.json" and args.baseline is None
    args = build_parser().parse_args(
        ["examples", "a", "--since-snapshot", "new.json", "--baseline", "old.json"]
    )
    assert (args.names, args.since_snapshot, args.baseline) == (["a"], "new.json", "old.json")
    assert build_parser().parse_args(["examples"]).since_snapshot is None


def namespace(tmp_path: Path, snapshot: Path, baseline: Path | None) -> argparse.Namespace:
    return argparse.Namespace(
        since_snapshot=str(snapshot),
        baseline=None if baseline is None else str(baseline),
        examples_dir=str(tmp_path / "examples"),
        names=[],
    )


def test_the_command_prints_what_runs_first_and_why(
    profile: Profile, write: Callable, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write("submits", parameters='batch_partition = "batch"')
    write("plain")
    baseline, snapshot = changed(profile, lambda s: setattr(s.partitions["batch"], "state", "DOWN"))
    (tmp_path / "new.json").write_text(dump_snapshot(snapshot))
    (tmp_path / "old.json").write_text(dump_snapshot(baseline))
    order = _since_snapshot_order(namespace(tmp_path, tmp_path / "new.json", tmp_path / "old.json"), profile)
    assert order == ["submits"]
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "first: submits (partition batch changed (State UP → DOWN))"
    assert out[2] == "then: the other 1 example in the usual order"


def test_a_missing_or_broken_snapshot_is_bad_input_naming_the_file(
    profile: Profile, write: Callable, tmp_path: Path
) -> None:
    write("plain")
    (tmp_path / "old.json").write_text(dump_snapshot(matching_snapshot(profile)))
    with pytest.raises(HandbookInputError) as missing:
        _since_snapshot_order(namespace(tmp_path, tmp_path / "none.json", tmp_path / "old.json"), profile)
    assert missing.value.file == str(tmp_path / "none.json") and "no such file" in missing.value.problem
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(HandbookInputError) as broken:
        _since_snapshot_order(namespace(tmp_path, tmp_path / "broken.json", tmp_path / "old.json"), profile)
    assert broken.value.file == str(tmp_path / "broken.json") and "expected JSON" in broken.value.problem
    data = json.loads(dump_snapshot(matching_snapshot(profile)))
    data["partitions"]["batch"]["state"] = 3
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(HandbookInputError) as bad:
        _since_snapshot_order(namespace(tmp_path, tmp_path / "old.json", tmp_path / "bad.json"), profile)
    assert bad.value.where == "partitions.batch.state"


def test_the_command_exits_2_before_running_anything_on_a_missing_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def must_not_run(**kwargs: Any) -> None:
        raise AssertionError("the examples ran")

    monkeypatch.setattr(runner, "run_examples", must_not_run)
    missing = tmp_path / "snapshot.json"
    code = main(["examples", "--site", str(REPO / "site.yml"), "--examples-dir", str(REPO / "examples"),
                 "--since-snapshot", str(missing)])  # fmt: skip
    assert code == 2
    assert str(missing) in capsys.readouterr().err
    code = main(["examples", "--site", str(REPO / "site.yml"), "--baseline", str(missing)])
    assert code == 2
    assert "--since-snapshot" in capsys.readouterr().err
