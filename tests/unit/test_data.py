"""The data files' models, their one atomic writer and their loaders' errors."""

from __future__ import annotations

import ast
import json
import os
import stat
from pathlib import Path

import pytest

from hpc_handbook.data.examples_report import ExampleResult, ExamplesReport, Summary, load_examples_report
from hpc_handbook.data.files import DataModel, require, write_atomically, write_json
from hpc_handbook.data.notify_state import ChatState, NotifyState, load_notify_state, write_notify_state
from hpc_handbook.data.verification import VERIFICATION_KEY, load_verification, verification_from_metadata
from hpc_handbook.errors import HandbookInputError, HandbookInputErrors

SRC = Path(__file__).resolve().parents[2] / "src" / "hpc_handbook"


# --- The writer ---------------------------------------------------------------------------


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "new" / "data.json"
    write_atomically(target, "first\n")
    write_atomically(target, "second\n")
    assert target.read_text() == "second\n"
    assert [p.name for p in target.parent.iterdir()] == ["data.json"]


def test_a_write_that_fails_leaves_the_old_file_untouched(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    write_atomically(target, "old\n")
    # Not text: the write fails half-way, after the temporary file exists.
    with pytest.raises(TypeError):
        write_atomically(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_a_write_keeps_the_files_permissions(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    write_atomically(target, "{}\n")
    # Not the owner-only mode of a temporary file: the book and a web server read these.
    assert stat.S_IMODE(target.stat().st_mode) & 0o044
    os.chmod(target, 0o640)
    write_atomically(target, "{}\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_models_are_written_with_sorted_keys_and_their_format(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_json(path, NotifyState(chat=ChatState(signature="abc", repeats=2)))
    assert path.read_text() == (
        '{\n  "chat": {\n    "last_sent": null,\n    "repeats": 2,\n    "signature": "abc"\n  },\n'
        '  "email": {},\n  "format": 2\n}\n'
    )


# --- The loaders --------------------------------------------------------------------------


def report() -> ExamplesReport:
    return ExamplesReport(
        site="RCC",
        date="2026-11-21",
        summary=Summary(passed=1),
        results=[ExampleResult(example="first-notebook", kernel="python3", status="passed")],
    )


def test_a_missing_file_is_none_and_a_required_one_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "examples.json"
    assert load_examples_report(path) is None
    with pytest.raises(HandbookInputError) as error:
        require(load_examples_report(path), path, what="a doc CI report")
    assert error.value.file == str(path) and error.value.exit_code == 2
    write_json(path, report())
    assert load_examples_report(path) == report()


def test_a_report_without_a_format_is_read_as_the_first_format(tmp_path: Path) -> None:
    path = tmp_path / "examples.json"
    data = json.loads(report().model_dump_json(by_alias=True))
    del data["format"]
    path.write_text(json.dumps(data), encoding="utf-8")
    loaded = load_examples_report(path)
    assert loaded is not None and loaded.format_version == 1


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"format": 2}, "format"),
        ({"summary": {"passed": "many"}}, "summary.passed"),
        ({"results": [{"example": "x", "kernel": "python3", "status": "green"}]}, "results.0.status"),
        ({"extra": True}, "extra"),
    ],
)
def test_bad_data_names_the_file_and_the_field(tmp_path: Path, change: dict, where: str) -> None:
    path = tmp_path / "examples.json"
    path.write_text(json.dumps({**json.loads(report().model_dump_json(by_alias=True)), **change}))
    with pytest.raises(HandbookInputError) as error:
        load_examples_report(path)
    assert (error.value.file, error.value.where) == (str(path), where)
    assert str(path) in error.value.message and "nox -s examples" in error.value.message


def test_every_bad_field_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "examples.json"
    path.write_text(json.dumps({"summary": {}}), encoding="utf-8")
    with pytest.raises(HandbookInputErrors) as error:
        load_examples_report(path)
    assert {e.where for e in error.value.errors} == {"site", "date"}


def test_text_that_is_not_json_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "notify-state.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(HandbookInputError) as error:
        load_notify_state(path)
    assert error.value.where == "line 1"
    write_notify_state(path, NotifyState(chat=ChatState(signature="abc")))
    assert load_notify_state(path) == NotifyState(chat=ChatState(signature="abc"))


def test_the_verification_record_of_a_notebook(tmp_path: Path) -> None:
    record = {"date": "2026-11-25", "site": "RCC", "kernels": ["python3"], "result": "passed"}
    notebook = tmp_path / "example.ipynb"
    notebook.write_text(json.dumps({"metadata": {VERIFICATION_KEY: record}, "cells": []}), encoding="utf-8")
    loaded = load_verification(notebook)
    assert loaded is not None and (loaded.site, loaded.result, loaded.reason) == ("RCC", "passed", None)
    # Written back, it gains its format and no empty reason.
    assert loaded.to_metadata() == {"format": 1, **record}
    assert verification_from_metadata({}, file=notebook) is None
    assert load_verification(tmp_path / "none.ipynb") is None
    with pytest.raises(HandbookInputError) as error:
        verification_from_metadata({VERIFICATION_KEY: {**record, "result": "maybe"}}, file=notebook)
    assert error.value.where == "result"


def test_every_data_model_forbids_unknown_fields() -> None:
    from hpc_handbook.data import examples_report, notify_state, snapshot, verification, waiting_times

    models = [
        value
        for module in (examples_report, notify_state, snapshot, verification, waiting_times)
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, DataModel) and value is not DataModel
    ]
    assert len(models) >= 15
    assert all(model.model_config.get("extra") == "forbid" for model in models)


# --- No cycle between the probe and the drift check -------------------------------------


def imported_modules(path: Path) -> set[str]:
    """The hpc_handbook modules a file imports anywhere, inside functions too."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hpc_handbook"):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("hpc_handbook"))
    return names


def reaches(start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module == goal or module.startswith(f"{goal}."):
            return True
        if module in seen:
            continue
        seen.add(module)
        path = SRC.joinpath(*module.split(".")[1:])
        file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        if file.is_file():
            todo.extend(imported_modules(file))
    return False


def test_the_probe_does_not_import_the_drift_check_and_the_data_imports_neither() -> None:
    assert reaches("hpc_handbook.drift.command", "hpc_handbook.probe")
    assert not reaches("hpc_handbook.probe.command", "hpc_handbook.drift")
    for module in ("snapshot", "waiting_times", "examples_report", "verification", "notify_state"):
        for tool in ("probe", "drift", "changes", "waiting_times", "doc_ci"):
            assert not reaches(f"hpc_handbook.data.{module}", f"hpc_handbook.{tool}"), (module, tool)
