"""nbval's markers as comments and tags, with nbval's precedence; unrun cells; nbval-lax; sanitize files."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager

from hpc_handbook.cli import main
from hpc_handbook.doc_ci.compare import (
    RAN_CLEANLY,
    UNRUN_WITH_OUTPUTS,
    CellOptions,
    cell_options,
    judge_cell,
)
from hpc_handbook.doc_ci.run.execute import ExecutionContext, _prepare
from hpc_handbook.errors import INPUT_ERROR_EXIT_CODE, HandbookInputError
from hpc_handbook.examples.contract import discover_examples, load_example
from hpc_handbook.examples.sanitize import Sanitizer, load_sanitizer

from .conftest import REPO

NO_RULES = Sanitizer(())


def cell(source: str, *tags: str, count: int | None = 1, outputs: list | None = None):
    code = nbformat.v4.new_code_cell(source)
    code.metadata["tags"] = list(tags)
    code.execution_count = count
    code.outputs = outputs or []
    return code


def stdout(text: str):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def error(name: str = "RuntimeError"):
    return nbformat.v4.new_output("error", ename=name, evalue="boom", traceback=[])


@pytest.mark.parametrize(
    ("source", "tags", "expected"),
    [
        ("x", ["nbval-ignore-output"], CellOptions(check=False)),
        ("# NBVAL_IGNORE_OUTPUT\nx", [], CellOptions(check=False)),
        ("# PYTEST_VALIDATE_IGNORE_OUTPUT\nx", [], CellOptions(check=False)),
        ("x", ["pytest-validate-ignore-output"], CellOptions(check=False)),
        ("# NBVAL_RAISES_EXCEPTION\nx", [], CellOptions(check_exception=True)),
        ("x", ["nbval-raises-exception"], CellOptions(check_exception=True)),
        ("x", ["raises-exception"], CellOptions(check_exception=True)),
        ("# NBVAL_SKIP\nx", [], CellOptions(skip=True)),
        ("x", ["nbval-skip"], CellOptions(skip=True)),
        ("x", ["skip-execution"], CellOptions(skip=True)),
        # A comment wins over a tag, both ways (nbval's sample_notebook, cells 8 and 9).
        ("# NBVAL_IGNORE_OUTPUT\nx", ["nbval-check-output"], CellOptions(check=False)),
        ("# NBVAL_CHECK_OUTPUT\nx", ["nbval-ignore-output"], CellOptions(check=True)),
        # Two comments that disagree: the last one counts, as in nbval.
        ("# NBVAL_CHECK_OUTPUT\n# NBVAL_IGNORE_OUTPUT\nx", [], CellOptions(check=False)),
        ("  #   NBVAL_IGNORE_OUTPUT  \nx", [], CellOptions(check=False)),
        ("print('# NBVAL_IGNORE_OUTPUT')", [], CellOptions()),  # not a comment line
    ],
)
def test_markers_as_nbval_reads_them(source, tags, expected):
    assert cell_options(cell(source, *tags)) == expected


def test_lax_checks_only_the_cells_marked_to_be_checked():
    assert not cell_options(cell("x"), lax=True).check
    assert cell_options(cell("# NBVAL_CHECK_OUTPUT\nx"), lax=True).check
    assert cell_options(cell("x", "nbval-check-output"), lax=True).check
    assert not cell_options(cell("# NBVAL_IGNORE_OUTPUT\nx", "nbval-check-output"), lax=True).check


def test_an_unexecuted_reference_cell_is_not_compared():
    unrun = cell("print('test')", count=None)
    assert judge_cell(3, unrun, [stdout("test\n")], sanitize=NO_RULES) is None


def test_an_unexecuted_reference_cell_with_outputs_fails_as_in_nbval():
    # nbval: "Unrun reference cell has outputs", whatever the markers say about checking.
    unrun = cell("# NBVAL_IGNORE_OUTPUT\nprint('test')", count=None, outputs=[stdout("test\n")])
    mismatch = judge_cell(3, unrun, [stdout("test\n")], sanitize=NO_RULES)
    assert mismatch is not None and mismatch.summary == UNRUN_WITH_OUTPUTS


def test_a_cell_that_should_raise_but_runs_cleanly_fails_only_where_its_output_is_checked():
    checked = cell("# NBVAL_RAISES_EXCEPTION\nf()", outputs=[error()])
    mismatch = judge_cell(2, checked, [], sanitize=NO_RULES)
    assert mismatch is not None and mismatch.summary == RAN_CLEANLY
    ignored = cell("# NBVAL_RAISES_EXCEPTION\n# NBVAL_IGNORE_OUTPUT\nf()", outputs=[error()])
    assert judge_cell(2, ignored, [], sanitize=NO_RULES) is None  # nbval passes it too
    assert judge_cell(2, checked, [error()], sanitize=NO_RULES) is None
    assert judge_cell(2, checked, [error("NameError")], sanitize=NO_RULES) is not None


def test_svg_is_compared_as_nbval_compares_it_and_png_is_not():
    def display(mime, data):
        return nbformat.v4.new_output("display_data", data={mime: data, "text/plain": "<Figure>"})

    png = cell("plot()", outputs=[display("image/png", "AAAA")])
    assert judge_cell(1, png, [display("image/png", "BBBB")], sanitize=NO_RULES) is None
    svg = cell("plot()", outputs=[display("image/svg+xml", "<svg>1</svg>")])
    assert judge_cell(1, svg, [display("image/svg+xml", "<svg>2</svg>")], sanitize=NO_RULES) is not None


def test_the_executed_copy_carries_the_tag_nbclient_honours_and_leaves_skipped_cells_out(
    write_example, profile
):
    path = write_example(
        "markers",
        [
            "# NBVAL_RAISES_EXCEPTION\nraise RuntimeError('x')",
            ("raise RuntimeError('y')", ["nbval-raises-exception"]),
            "# NBVAL_SKIP\nraise SystemExit",
            ("raise SystemExit", ["skip-execution"]),
            "print('end')",
        ],
    )
    example = load_example(path, profile)
    context = ExecutionContext(
        run_id="t",
        sanitize=NO_RULES,
        parameters={"site_short_name": "XX"},
        specs=KernelSpecManager(),
        languages={"python3": "python"},
        workroot=path.parent,
    )
    notebook, origins = _prepare(example, "python3", context)
    by_origin = dict(zip(origins, notebook.cells, strict=True))
    assert "raises-exception" in by_origin[2].metadata.tags
    assert "raises-exception" in by_origin[3].metadata.tags
    assert 4 not in by_origin and 5 not in by_origin
    assert "raises-exception" not in by_origin[6].metadata.tags
    assert "raises-exception" not in example.notebook.cells[2].metadata.get("tags", [])  # reference untouched


def test_nbval_lax_is_part_of_the_contract(write_example, profile):
    assert load_example(write_example("lax", ["1"], nbval_lax=True), profile).meta.nbval_lax
    assert not load_example(write_example("strict", ["1"]), profile).meta.nbval_lax
    with pytest.raises(HandbookInputError, match="nbval_lax"):
        load_example(write_example("bad", ["1"], nbval_lax="sometimes"), profile)


def outside_notebooks(directory: Path, count: int) -> list[str]:
    """Notebooks written for nbval, without the example contract."""
    names = []
    for index in range(count):
        notebook = nbformat.v4.new_notebook()
        notebook.cells.append(nbformat.v4.new_code_cell("print('hello')"))
        nbformat.write(notebook, directory / f"outside-{index}.ipynb")
        names.append(f"outside-{index}.ipynb")
    return names


def test_every_notebook_without_the_contract_is_named_at_once(examples_dir, profile, write_example):
    write_example("fine", ["1"])
    names = outside_notebooks(examples_dir, 5)
    with pytest.raises(HandbookInputError) as raised:
        discover_examples(examples_dir, profile)
    message = raised.value.message
    for name in names:
        assert f"{name} at metadata.handbook: expected the example contract" in message
    assert "fine.ipynb" not in message


def test_the_command_names_every_notebook_without_the_contract_and_exits_2(examples_dir, tmp_path, capsys):
    names = outside_notebooks(examples_dir, 5)
    arguments = ["examples", "--examples-dir", str(examples_dir), "--site", str(REPO / "site.yml")]
    code = main([*arguments, "--report-dir", str(tmp_path / "reports")])
    assert code == INPUT_ERROR_EXIT_CODE
    error_text = capsys.readouterr().err
    assert all(name in error_text for name in names)
    assert not (tmp_path / "reports").exists()


def rules_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sanitize.cfg"
    path.write_text(text)
    return path


def test_a_sanitize_file_is_read_as_nbval_reads_it(tmp_path, monkeypatch):
    monkeypatch.setenv("USER", "nobody-in-particular")
    text = (
        "[Section1]\nregex: foo\nreplace: bar1\n\nregex: quux\nreplace: 42\n\n"
        "[Section2 (overwrites regex 'foo')]\nregex: foo\nreplace: bar2\n"
    )
    sanitize = load_sanitizer(rules_file(tmp_path, text))
    # nbval keys its rules by regex: the later `foo` rule replaces the earlier, in its place.
    assert sanitize("foo quux") == "bar2 42"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[dates]\nregex: \\d+\n\nreplace: <n>\n", "line 2 (regex: \\d+)"),
        ("regex:\\d+\nreplace: <n>\n", "line 1 (regex:\\d+)"),
        ("regex: a\nreplace: b\nreplace: c\n", "line 3 (replace: c)"),
    ],
)
def test_a_rule_nbval_would_skip_is_an_error_naming_file_and_line(tmp_path, text, where):
    path = rules_file(tmp_path, text)
    with pytest.raises(HandbookInputError) as raised:
        load_sanitizer(path)
    assert raised.value.exit_code == INPUT_ERROR_EXIT_CODE
    assert raised.value.message.startswith(f"{path} at {where}: expected a `regex: PATTERN` line")


def test_every_bad_line_of_a_sanitize_file_is_named(tmp_path):
    with pytest.raises(HandbookInputError) as raised:
        load_sanitizer(rules_file(tmp_path, "regex: a\n\nregex: b\n"))
    assert "line 1 (regex: a)" in raised.value.message and "line 3 (regex: b)" in raised.value.message


def test_a_sanitize_file_that_is_not_text_is_an_error(tmp_path):
    path = tmp_path / "sanitize.cfg"
    path.write_bytes(b"regex: \xff\nreplace: x\n")
    with pytest.raises(HandbookInputError, match="expected UTF-8 text") as raised:
        load_sanitizer(path)
    assert raised.value.file == str(path)


def test_the_committed_sanitize_rules_follow_nbvals_format():
    load_sanitizer(REPO / "examples" / "sanitize.cfg")
