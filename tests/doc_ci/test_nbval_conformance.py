"""nbval's own test notebooks, run by the doc CI, get the verdict that nbval gives them.

`tests/nbval_conformance/` holds nbval's test notebooks, its sanitize file and its licence,
as they are in nbval's source distribution on PyPI (its README says which and how to update
them). Each notebook is given the example contract (the handbook metadata and an empty
`parameters` cell; nothing else changes) and run by the doc CI's own executor on a local
python3 kernel of this environment, as nbval's CI runs them with `--nbval-current-env`.
No site is needed: the kernelspec lives in a temporary folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import nbval
import pytest

from hpc_handbook.doc_ci.run.execute import JobResult
from hpc_handbook.examples.contract import Example, ExampleMeta, load_example
from hpc_handbook.examples.sanitize import Sanitizer, load_sanitizer
from hpc_handbook.profile import Profile

from .conftest import REPO
from .local_kernel import run_locally

NBVAL_VERSION = "0.11.0"
DATA = REPO / "tests" / "nbval_conformance"
SANITIZE = "sanitize_defaults.cfg"
#: SHA-256 of each vendored file as it is in nbval-0.11.0.tar.gz (its README gives the archive's).
VENDORED = {
    "exceptions.ipynb": "b54d8aa3bd13370ab4cd13285f65a6679b0d52929b1823d8f29e048a092b61b7",
    "latex-example.ipynb": "47c4b917d401808ab10b8208418e9045ecb984ec1345a06b7992c20bf336d940",
    "minimal_example.ipynb": "867200e12df5c38fb72c2f52438716bcd239087e80dee41038f1847adb3263d5",
    "sample_notebook.ipynb": "e1eb20ba88b66a271772e1935b2c63152e614d785f52bca169be3be854fc4139",
    "test_coalesce.ipynb": "4884c0e3eb39aeadb2be185fc34665789bfe608938388b6aa05a3453a2845225",
    "ipynb-test-samples/test-exceptions-fail-storedmismatch.ipynb": (
        "c8416e3dd8003d71c80acebf2dea83f0817e22e8c133f8ea6796960275b1b51b"
    ),
    "ipynb-test-samples/test-latex-fail-randomoutput.ipynb": (
        "dd356755a8bb744787a01dce43fa7f5ba7e8a21ee6061d1aab6e70fead25855f"
    ),
    "ipynb-test-samples/test-latex-pass-correctouput.ipynb": (
        "04b70d3c7c381037deecaea7bae64212fb7a267baf2860a78dc0f96942854c9b"
    ),
    "ipynb-test-samples/test-latex-pass-failsbutignoreoutput.ipynb": (
        "b7b9344d0d30984a39aac5b179109fcabf2dc43993315aec2537fa3ac25c228c"
    ),
    "ipynb-test-samples/test-stream-fail-missingoutput.ipynb": (
        "15c4c7de037f7dfbc3a2fec6b020f5fe170c3a3f3d43bf4bf6f149336e4536a4"
    ),
    "ipynb-test-samples/test-stream-pass-missing-unexecuted-output.ipynb": (
        "3e14b1b5f2b775abbf076b0f17cbe27c59cf9ef16e3b3cd2b9fd635225a2f99c"
    ),
    SANITIZE: "27c740fcaf5e25b4f2ce44e1bab6d16c5803ebd03cb51f6b8697ed27e27236e1",
}


@dataclass(frozen=True)
class Case:
    """One notebook, run as nbval's CI runs it, and the verdict nbval gives it."""

    notebook: str
    expected: str  # "passed" or "failed"
    #: nbval's `--nbval-sanitize-with` file, where nbval's CI passes one.
    sanitize: str | None
    lax: bool = False

    @property
    def id(self) -> str:
        return f"{Path(self.notebook).stem}{'-lax' if self.lax else ''}"


def nbval_ci_cases() -> list[Case]:
    """The verdicts nbval's own CI expects, derived as nbval derives them.

    `doit test` (nbval's dodo.py) runs `py.test tests/ --nbval --nbval-current-env
    --nbval-sanitize-with tests/sanitize_defaults.cfg --ignore tests/ipynb-test-samples` and
    must pass; tests/test_unit_tests_in_notebooks.py runs each `ipynb-test-samples/test-*.ipynb`
    with `--nbval --nbval-current-env` alone and reads the expected outcome from its name,
    `test-NAME-OUTCOME-COMMENT.ipynb`.
    """
    beside = [Case(p.name, "passed", SANITIZE) for p in sorted(DATA.glob("*.ipynb"))]
    samples = [
        Case(f"{p.parent.name}/{p.name}", {"pass": "passed", "fail": "failed"}[p.name.split("-")[2]], None)
        for p in sorted((DATA / "ipynb-test-samples").glob("test-*.ipynb"))
    ]
    return beside + samples


def nbval_lax_cases() -> list[Case]:
    """The same notebooks with `--nbval-lax`: nbval 0.11.0 passes every one of them.

    nbval's CI does not run them so; its verdicts were measured with the same commands plus
    `--nbval-lax`. Only cells marked NBVAL_CHECK_OUTPUT are compared, so the three samples
    that fail on their outputs pass, and an unexpected error would still fail.
    """
    return [Case(c.notebook, "passed", c.sanitize, lax=True) for c in nbval_ci_cases()]


CASES = nbval_ci_cases() + nbval_lax_cases()
IMPORT = re.compile(r"^\s*(?:import|from)\s+(\w+)", re.MULTILINE)


def missing_modules(notebook: nbformat.NotebookNode) -> list[str]:
    """Modules the notebook imports that this environment lacks (nbval's CI installs sympy)."""
    names = {m for cell in notebook.cells if cell.cell_type == "code" for m in IMPORT.findall(cell.source)}
    return sorted(n for n in names if n != "__future__" and importlib.util.find_spec(n) is None)


def with_contract(notebook: nbformat.NotebookNode, *, lax: bool) -> nbformat.NotebookNode:
    """The notebook with the example contract and nothing else changed."""
    notebook.metadata["handbook"] = ExampleMeta(
        audience="expert", kernels=["python3"], runs_on="any", timeout=60, owner="nbval", nbval_lax=lax
    ).model_dump(mode="json", exclude_defaults=True)
    parameters = nbformat.v4.new_code_cell("")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells.insert(0, parameters)
    return notebook


def conformance_runs(cases: list[Case], profile: Profile, tmp: Path) -> list[tuple[Example, Sanitizer]]:
    """Each case as an example of its own, with the sanitize rules nbval's CI gives it."""
    (tmp / "no-rules.cfg").write_text("")
    runs = []
    for index, case in enumerate(cases):
        folder = tmp / f"examples-{index}"
        folder.mkdir()
        path = folder / Path(case.notebook).name
        nbformat.write(with_contract(nbformat.read(DATA / case.notebook, as_version=4), lax=case.lax), path)
        rules = DATA / case.sanitize if case.sanitize else tmp / "no-rules.cfg"
        runs.append((load_example(path, profile), load_sanitizer(rules)))
    return runs


@pytest.fixture(scope="module")
def verdicts(profile: Profile, tmp_path_factory: pytest.TempPathFactory) -> dict[str, JobResult]:
    """Every case that this environment can run, run at once: a few seconds in all."""
    tmp = tmp_path_factory.mktemp("nbval")
    runnable = [c for c in CASES if not missing_modules(nbformat.read(DATA / c.notebook, as_version=4))]
    results = run_locally(conformance_runs(runnable, profile, tmp), tmp)
    return {case.id: result for case, result in zip(runnable, results, strict=True)}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_runner_gives_nbvals_verdict(case: Case, verdicts: dict[str, JobResult]) -> None:
    missing = missing_modules(nbformat.read(DATA / case.notebook, as_version=4))
    if missing:
        pytest.skip(f"needs {', '.join(missing)}, which nbval's CI installs for its tests")
    result = verdicts[case.id]
    assert result.status == case.expected, f"{case.notebook}: {result.reason}\n{result.diff}"
    if case.expected == "failed":
        # nbval fails these samples on their outputs: the run itself must have gone through.
        assert result.output_mismatch_only, result.reason


def test_every_notebook_of_nbvals_tests_is_vendored_unchanged() -> None:
    on_disk = {
        str(p.relative_to(DATA)) for p in DATA.rglob("*") if p.is_file() and p.name not in ("README.md",)
    }
    assert on_disk == {*VENDORED, "LICENSE"}
    for name, digest in VENDORED.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, f"{name} was changed"
    assert {c.notebook for c in nbval_ci_cases()} == {n for n in VENDORED if n.endswith(".ipynb")}


def test_the_conformance_data_is_that_of_the_installed_nbval() -> None:
    # The comparison uses the installed nbval's helpers: its own notebooks must match them.
    assert nbval.__version__ == NBVAL_VERSION, (
        f"nbval {nbval.__version__} is installed, the conformance notebooks are {NBVAL_VERSION}'s: "
        "vendor them anew from its sdist (tests/nbval_conformance/README.md says how)"
    )
