"""The example contract: the handbook metadata every notebook in `examples/` carries.

    "metadata": {"handbook": {
        "audience": "novice",              # novice, expert or admin
        "kernels": ["role:python"],        # kernel roles (role:python, role:modules, role:slurm,
                                           # role:r, role:bash, role:gpu), "language:python" for
                                           # every kernel of a language, or a site kernel's own
                                           # name (for a centre's own examples)
        "runs_on": "login",                # "any" (no output depends on the node: `--dispatch slurm` may
                                           # run it on a compute node), or {"partition": "role:batch",
                                           # "walltime": "00:10:00"}
                                           # (role:interactive, role:batch, or a partition's name)
        "requires": ["slurm"],             # capabilities: slurm, lmod, gpu (a real GPU), gpu_scheduling
                                           # (Slurm hands out GPUs), apptainer, conda, own_environment
                                           # (servers from users' own start-up scripts, through the hub)
        "timeout": 120,                    # seconds, for the whole example
        "owner": "docs-team",              # who fixes it when it fails
        "nbval_lax": false                 # optional: true compares only the cells marked
                                           # NBVAL_CHECK_OUTPUT, as nbval's --nbval-lax does
    }}

The notebook also has one cell tagged `parameters`; every name it assigns must be a
site parameter (see `site_parameters`), so the doc CI can inject the site's values.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import nbformat
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from hpc_handbook.errors import HandbookInputError, HandbookInputErrors
from hpc_handbook.profile import KERNEL_ROLES, Profile
from hpc_handbook.profile.base import Walltime
from hpc_handbook.site_facts import OPTIONAL_PARAMETERS, site_parameters

CAPABILITIES = ("slurm", "lmod", "gpu", "gpu_scheduling", "apptainer", "conda", "own_environment")


class PartitionPlacement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    partition: str
    walltime: Walltime = "00:10:00"
    cpus: int = Field(default=1, ge=1, le=64)


class ExampleMeta(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    audience: Literal["novice", "expert", "admin"]
    kernels: list[str] = Field(min_length=1)
    #: "login": the login node, where the page says it runs; "any": nothing in it depends on the node,
    #: so `--dispatch slurm` may run it on a compute node of the doc CI's partition.
    runs_on: Literal["login", "any"] | PartitionPlacement = "login"
    requires: list[
        Literal["slurm", "lmod", "gpu", "gpu_scheduling", "apptainer", "conda", "own_environment"]
    ] = Field(default_factory=list)
    timeout: int = Field(ge=5, le=3600)
    owner: Annotated[str, StringConstraints(min_length=1, pattern=r"^\S+$")]
    #: nbval's `--nbval-lax` for this example: only cells marked NBVAL_CHECK_OUTPUT are compared.
    nbval_lax: bool = False


@dataclass(frozen=True)
class Example:
    """A validated example: its notebook, metadata and the kernels it must run on."""

    path: Path
    notebook: nbformat.NotebookNode
    meta: ExampleMeta
    kernels: tuple[str, ...]
    parameter_names: tuple[str, ...]
    #: Why a requested kernel role cannot run at this site, one reason per missing role.
    missing_kernels: tuple[tuple[str, str], ...] = ()
    #: The site partition the kernel is allocated on (`runs_on` resolved), or None for the login node.
    partition: str | None = None
    #: Site parameters the `parameters` cell assigns that this site has no value for (no GPU partition).
    missing_parameters: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def page(self) -> str:
        """The book page this example backs (the notebook is rendered as that page)."""
        return f"examples/{self.path.stem}"


def _parameters_cell(notebook: nbformat.NotebookNode, file: Path) -> tuple[int, nbformat.NotebookNode]:
    tagged = [
        (i, c) for i, c in enumerate(notebook.cells) if "parameters" in c.get("metadata", {}).get("tags", [])
    ]
    if len(tagged) != 1:
        raise HandbookInputError(
            file, "cells", f"expected exactly one cell tagged 'parameters', found {len(tagged)}"
        )
    return tagged[0]


def _assigned_names(source: str, language: str, file: Path, where: str) -> list[str]:
    """The names a parameters cell assigns, per language (papermill translates per language too)."""
    if language == "python":
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            raise HandbookInputError(file, where, f"expected valid Python: {exc.msg}") from None
        return [
            t.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for t in node.targets
            if isinstance(t, ast.Name)
        ]
    pattern = {"bash": r"^\s*([A-Za-z_]\w*)=", "R": r"^\s*([A-Za-z_][\w.]*)\s*(?:<-|=)"}.get(language)
    if pattern is None:
        raise HandbookInputError(file, where, f"no parameter support for kernel language {language!r}")
    return re.findall(pattern, source, flags=re.MULTILINE)


ROLE_PREFIX = "role:"


def missing_role_reason(role: str) -> str:
    return f"this site has no kernel for role:{role}, {KERNEL_ROLES[role]}"


def resolve_kernels(
    requested: list[str], profile: Profile, file: Path
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Turn roles, `language:X` selectors and names into the site kernels to run on.

    Returns the kernels and, for each requested role no kernel of this site plays, the
    selector with the reason (the example is skipped on it, like a missing capability).
    """
    known = {k.name: k for k in profile.kernels}
    roles = profile.kernel_roles
    role_selectors = ", ".join(ROLE_PREFIX + role for role in KERNEL_ROLES)
    resolved: list[str] = []
    missing: list[tuple[str, str]] = []
    for index, entry in enumerate(requested):
        where = f"metadata.handbook.kernels[{index}]"
        if entry.startswith(ROLE_PREFIX):
            role = entry.removeprefix(ROLE_PREFIX)
            if role not in KERNEL_ROLES:
                expected = ", ".join(ROLE_PREFIX + r for r in KERNEL_ROLES)
                raise HandbookInputError(
                    file, where, f"unknown kernel role {role!r}; expected one of {expected}"
                )
            if role in roles:
                matches = [roles[role].name]
            else:
                missing.append((entry, missing_role_reason(role)))
                continue
        elif entry.startswith("language:"):
            language = entry.removeprefix("language:")
            matches = [k.name for k in profile.kernels if k.language.lower() == language.lower()]
            if not matches:
                raise HandbookInputError(
                    file, where, f"no kernel of language {language!r} in the site profile"
                )
        elif entry in known:
            matches = [entry]
        else:
            raise HandbookInputError(
                file,
                where,
                f"unknown kernel {entry!r}; expected a role ({role_selectors}), "
                f"language:<name> or one of {', '.join(known)}",
            )
        resolved.extend(m for m in matches if m not in resolved)
    return tuple(resolved), tuple(missing)


#: Partitions an example can run on by role: each profile derives them (see `Profile`).
PARTITION_ROLES = ("role:interactive", "role:batch")


def resolve_partition(requested: str, profile: Profile, file: Path, where: str) -> str:
    """The site partition for `role:interactive`, `role:batch` or a partition's own name."""
    if requested == "role:interactive":
        return profile.interactive_partition.name
    if requested == "role:batch":
        return profile.batch_partition.name
    if requested.startswith(ROLE_PREFIX):
        expected = ", ".join(PARTITION_ROLES)
        raise HandbookInputError(file, where, f"unknown partition role {requested!r}; expected {expected}")
    return requested


def _read_contract(path: Path) -> tuple[nbformat.NotebookNode, ExampleMeta]:
    """The notebook and its `metadata.handbook` contract, checked field by field."""
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types for broken JSON
        raise HandbookInputError(path, "", f"expected a valid .ipynb notebook ({exc})") from None
    raw = notebook.metadata.get("handbook")
    if not isinstance(raw, dict):
        raise HandbookInputError(path, "metadata.handbook", "expected the example contract (a mapping)")
    try:
        return notebook, ExampleMeta.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in ("metadata", "handbook", *error["loc"]))
        problem = (
            "required field is missing"
            if error["type"] == "missing"
            else (f"expected {error['msg'].lower()}, got {error.get('input')!r}")
        )
        raise HandbookInputError(path, field, problem) from None


def _placed_partition(
    meta: ExampleMeta, kernels: tuple[str, ...], profile: Profile, path: Path
) -> str | None:
    """The partition the example's `runs_on` names, checked against the profile; None on the login node."""
    if not isinstance(meta.runs_on, PartitionPlacement):
        return None
    partitions = {p.name: p for p in profile.partitions}
    where = "metadata.handbook.runs_on.partition"
    name = resolve_partition(meta.runs_on.partition, profile, path, where)
    if name not in partitions:
        expected = ", ".join([*PARTITION_ROLES, *partitions])
        raise HandbookInputError(path, where, f"unknown partition {name!r}; expected one of {expected}")
    if not partitions[name].jupyter:
        raise HandbookInputError(path, where, f"partition {name!r} is not reachable from Jupyter")
    for kernel_name in kernels:
        if profile.kernel(kernel_name).start == "slurm":
            raise HandbookInputError(
                path,
                "metadata.handbook.kernels",
                f"kernel {kernel_name!r} already runs in its own Slurm job",
            )
    return name


def _parameter_names(
    notebook: nbformat.NotebookNode, kernels: tuple[str, ...], profile: Profile, path: Path
) -> tuple[str, ...]:
    """The names the `parameters` cell assigns, each a site parameter, in every kernel's language."""
    languages = {profile.kernel(k).language for k in kernels}
    index, cell = _parameters_cell(notebook, path)
    known = site_parameters(profile)
    names: list[str] = []
    for language in sorted(languages):
        names = _assigned_names(cell.source, language, path, f"cell {index} (parameters)")
        unknown = [n for n in names if n not in known and n not in OPTIONAL_PARAMETERS]
        if unknown:
            raise HandbookInputError(
                path,
                f"cell {index} (parameters)",
                f"unknown site parameter {unknown[0]!r}; expected one of {', '.join(sorted(known))}",
            )
    return tuple(names)


def load_example(path: Path, profile: Profile) -> Example:
    """Read and check one example against the contract; raise HandbookInputError on any violation."""
    notebook, meta = _read_contract(path)
    kernels, missing_kernels = resolve_kernels(meta.kernels, profile, path)
    partition = _placed_partition(meta, kernels, profile, path)
    names = _parameter_names(notebook, kernels, profile, path)
    known = site_parameters(profile)
    return Example(
        path=path,
        notebook=notebook,
        meta=meta,
        kernels=kernels,
        parameter_names=tuple(n for n in names if n in known),
        missing_kernels=missing_kernels,
        partition=partition,
        missing_parameters=tuple(n for n in names if n not in known),
    )


def discover_examples(directory: Path, profile: Profile, names: list[str] | None = None) -> list[Example]:
    """Load the examples of a folder (or the named ones), in name order."""
    paths = sorted(directory.glob("*.ipynb"))
    if names:
        by_name = {p.stem: p for p in paths}
        missing = [n for n in names if Path(n).stem not in by_name]
        if missing:
            raise HandbookInputError(directory, "", f"no example named {missing[0]!r}")
        paths = [by_name[Path(n).stem] for n in names]
    # Every notebook that breaks the contract is named at once, not one per run.
    examples, errors = [], []
    for path in paths:
        try:
            examples.append(load_example(path, profile))
        except HandbookInputErrors as error:
            errors.extend(error.errors)
        except HandbookInputError as error:
            errors.append(error)
    if len(errors) > 1:
        raise HandbookInputErrors(errors)
    if errors:
        raise errors[0]
    return examples
