"""The house a newcomer walks: small rooms, each package with its one job, and no import cycle.

Imports inside functions count: a cycle hidden in a function is still a cycle. Imports
for type checking only do not, since they never run.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "hpc_handbook"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
MAX_TOP_LEVEL_MODULES = 10


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for inner in ast.walk(node))
    return skipped


def _known(name: str) -> str | None:
    """The module of ours that `name` is, or that defines `name` (`pkg.module.function`)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> Iterator[str]:
    """Every module of ours that `module` imports, at its top or inside a function."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            targets = [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        for target in targets:
            found = _known(target)
            if found is not None and found != module:
                yield found


def room(module: str) -> str:
    """A room is a package without subpackages, or a module beside subpackages (`doc_ci.command`)."""
    path = MODULES[module]
    folder = path.parent
    has_subpackages = any((child / "__init__.py").is_file() for child in folder.iterdir() if child.is_dir())
    if path.name == "__init__.py":
        return f"{module}.__init__" if has_subpackages else module
    return module if has_subpackages else module.rpartition(".")[0]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one member."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            if component:
                found.append(sorted([node, *component]))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_back_through_others() -> None:
    graph = {module: set(imports_of(module)) for module in MODULES}
    assert cycles(graph) == []


def test_no_room_imports_itself_back_through_others() -> None:
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        for imported in imports_of(module):
            if room(module) != room(imported):
                graph.setdefault(room(module), set()).add(room(imported))
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_the_command_layer_imports_the_reference_site() -> None:
    importers = {
        module
        for module in MODULES
        if not module.startswith("hpc_handbook.reference_site")
        and any(imported.startswith("hpc_handbook.reference_site") for imported in imports_of(module))
    }
    assert importers, "the reference site's commands import it"
    assert {module for module in importers if not module.endswith(".command")} == set()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_and_functions_stay_small(module: str) -> None:
    text = MODULES[module].read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    long = [
        f"{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


def test_few_loose_modules_and_every_package_names_its_job() -> None:
    loose = [path.name for path in PACKAGE.glob("*.py") if path.name != "__init__.py"]
    assert len(loose) <= MAX_TOP_LEVEL_MODULES, loose
    packages = [path.parent for path in PACKAGE.rglob("__init__.py")]
    undocumented = [
        str(package.relative_to(SRC))
        for package in packages
        if not ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8")))
    ]
    assert undocumented == []


def test_every_command_module_registers_its_commands_one_way() -> None:
    """Each package's commands live in its `command.py` with `add_commands`, listed once in `cli.py`."""
    cli = (PACKAGE / "cli.py").read_text(encoding="utf-8")
    command_modules = sorted(module for module in MODULES if module.endswith(".command"))
    assert command_modules
    for module in command_modules:
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert "add_commands" in defined, module
        assert f'"{module}"' in cli, f"{module} is not listed in cli.py"


def test_no_re_exports_for_old_callers() -> None:
    """`import x as x` and `from m import y as y` only hand a name on; callers import it where it lives."""
    re_exports = [
        f"{module}: {alias.name}"
        for module, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
        if alias.asname is not None and alias.asname == alias.name.rpartition(".")[2]
    ]
    assert re_exports == []


TESTS = Path(__file__).resolve().parents[1]


def _missing_names(path: Path) -> Iterator[str]:
    """Names imported from our modules that are not there, and `module.name` uses of an imported module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported_modules = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hpc_handbook")):
            continue
        module = importlib.import_module(node.module)
        for alias in node.names:
            if f"{node.module}.{alias.name}" in MODULES:
                imported_modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif not hasattr(module, alias.name):
                yield f"{path.relative_to(TESTS)}:{node.lineno}: {node.module} has no {alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            name = imported_modules.get(node.value.id)
            if name is not None and not hasattr(importlib.import_module(name), node.attr):
                yield f"{path.relative_to(TESTS)}:{node.lineno}: {name} has no {node.attr}"


def test_every_test_imports_names_that_exist() -> None:
    """Site and browser tests do not run offline: a name moved away must still fail here, at once."""
    test_files = [path for path in TESTS.rglob("*.py") if "nbval_conformance" not in path.parts]
    assert [problem for path in test_files for problem in _missing_names(path)] == []
