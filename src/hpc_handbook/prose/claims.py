"""What a line of a page claims about the site, found by context rather than by the site's own names.

`--partition=X`, `-p X`, "the X partition", `module load X/Y`, "the `X` kernel", "the X
extension", `#SBATCH --time=...`: each is a claim, whether or not X is a name the site has,
so a name the site never had is caught as surely as one it lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

ClaimKind = Literal["partition", "node", "feature", "kernel", "module", "extension", "proxy_app", "path"]


@dataclass(frozen=True)
class Claim:
    kind: ClaimKind
    name: str
    #: The words around it, as the page has them.
    context: str


@dataclass(frozen=True)
class JobRequest:
    """The resources one Slurm command or one script's `#SBATCH` lines ask for."""

    context: str
    partition: str | None = None
    time: str | None = None
    nodes: str | None = None
    gpus: str | None = None
    memory: str | None = None


#: A name as a page writes one; values built at run time (`{x}`, `$X`, `<x>`) are not names.
_NAME = r"[A-Za-z0-9][\w.+-]*"
_SLURM_COMMAND = re.compile(r"(^|\s|[\"'\[(])(#SBATCH|sbatch|srun|salloc)\b")
#: `--opt=value`, `--opt value`, `"--opt", "value"` (a command as a Python list), `-o value`.
_OPTION = re.compile(r"""(--[a-z][a-z-]*|(?<![\w-])-[a-zA-Z])(?:=|\s+|["'],\s*["'])([^\s"',;)\]]+)""")
_PARTITION_WORD = re.compile(r"\bthe (?:`)?([a-z][a-z0-9_-]*)(?:`)? partition\b")
#: Words that may stand before "partition" without naming one.
_NOT_A_NAME = frozenset(
    "a an any another chosen current default dispatch doc each every first given its my named new one "
    "other own right same second single slurm that the this which whole your".split()
)
_YAML_PARTITION = re.compile(r"^\s*(?:\w+_)?partition:\s*([a-z][a-z0-9_-]*)\s*(?:#.*)?$")
_MODULE_COMMAND = re.compile(
    r"\b(?:module\s+(?:load|add|swap|switch|show|display|whatis|help)|ml)\s+([^;&|#`\n]+)"
)
_YAML_MODULES = re.compile(r"^\s*modules:\s*\[([^\]]*)\]")
_KERNEL = re.compile(
    r"(?:\bthe `("
    + _NAME
    + r")` kernel\b|--kernel[= ]("
    + _NAME
    + r")|kernel_name\s*=\s*[\"']("
    + _NAME
    + r")[\"']"
    r"|jupyter kernelspec (?:remove|uninstall)\s+(?:-[fy]\s+)*(" + _NAME + r"))"
)
_EXTENSION = re.compile(
    r"(?:\bthe `?(@?[\w/.-]+?)`? (?:JupyterLab )?extension\b"
    r"|jupyter (?:labextension|server extension) (?:enable|disable|install)\s+(@?[\w/.-]+))"
)
#: Launcher tiles: "the TensorBoard tile", "a `tensorboard` tile".
_PROXY_APP = re.compile(r"\b(?:the|a|its) `?([\w-]+)`? (?:tile|application in the Launcher)\b", re.IGNORECASE)
#: Tiles that are not server-proxy applications.
_NOT_AN_APP = frozenset({"launcher", "kernel", "notebook", "console", "terminal", "new", "proxy", "own"})
_PATH = re.compile(
    r"(?<![\w.~$/-])(/(?:home|project|projects|scratch|work|opt|apps|sw|gpfs|lustre|data)(?:/[^\s`\"'<>)\],;:]*)?)"
)


#: A placeholder a reader replaces, such as `NAME/VERSION`.
_PLACEHOLDER_WORD = re.compile(r"^[A-Z][A-Z_]*(/[A-Z][A-Z_]*)?$")
#: What a page creates itself: `--name my-env`, `"--name", "my-env"`, `name = "my-env"`.
_DEFINED_NAME = re.compile(
    r"""(?:--name[= ]|["']--name["'],\s*|\bname\s*=\s*|kernels/|kernels["']\s*/\s*["'])["']?([\w.+-]+)"""
)


def _clean(token: str) -> str | None:
    token = token.strip().strip("`'\".,;:()")
    if not token or token.startswith("-") or any(c in token for c in "{}$<>*"):
        return None
    return None if _PLACEHOLDER_WORD.match(token) else token


def names_defined(lines: list[str]) -> set[str]:
    """Names a page gives things it creates itself (a kernel of one's own): not claims about the site."""
    return {match.group(1) for line in lines for match in _DEFINED_NAME.finditer(line)}


def claims_in_line(line: str) -> Iterator[Claim]:
    """Every name the line claims the site has."""
    context = line.strip()[:160]
    for match in _PARTITION_WORD.finditer(line):
        if match.group(1) not in _NOT_A_NAME:
            yield Claim("partition", match.group(1), context)
    if (yaml_partition := _YAML_PARTITION.match(line)) is not None:
        yield Claim("partition", yaml_partition.group(1), context)
    if _SLURM_COMMAND.search(line):
        yield from _slurm_option_claims(line, context)
    for match in _MODULE_COMMAND.finditer(line):
        for token in match.group(1).split():
            if (name := _clean(token)) is not None:
                yield Claim("module", name, context)
    if (yaml_modules := _YAML_MODULES.match(line)) is not None:
        for token in yaml_modules.group(1).split(","):
            if (name := _clean(token)) is not None:
                yield Claim("module", name, context)
    for match in _KERNEL.finditer(line):
        name = _clean(next(g for g in match.groups() if g))
        if name is not None:
            yield Claim("kernel", name, context)
    for match in _EXTENSION.finditer(line):
        name = _clean(next(g for g in match.groups() if g))
        if name is not None and not name[0].isupper():
            yield Claim("extension", name, context)
    for match in _PROXY_APP.finditer(line):
        if match.group(1).lower() not in _NOT_AN_APP:
            yield Claim("proxy_app", match.group(1), context)
    for match in _PATH.finditer(line):
        yield Claim("path", match.group(1).rstrip("/.") or match.group(1), context)


def _slurm_option_claims(line: str, context: str) -> Iterator[Claim]:
    for option, value in _OPTION.findall(line):
        name = _clean(value)
        if name is None:
            continue
        if option in ("--partition", "-p"):
            yield from (Claim("partition", part, context) for part in name.split(","))
        elif option in ("--nodelist", "-w"):
            yield Claim("node", name, context)
        elif option in ("--constraint", "-C"):
            for feature in re.split(r"[&|,\[\]*]+", name):
                if feature and not feature.isdigit():
                    yield Claim("feature", feature, context)


_REQUEST_OPTIONS = {
    "--partition": "partition",
    "-p": "partition",
    "--time": "time",
    "-t": "time",
    "--nodes": "nodes",
    "-N": "nodes",
    "--gpus": "gpus",
    "-G": "gpus",
    "--gpus-per-node": "gpus",
    "--gres": "gpus",
    "--mem": "memory",
}


def job_requests(lines: list[str]) -> Iterator[tuple[int, JobRequest]]:
    """(index, request) for each Slurm command line, and one for the `#SBATCH` lines of a block.

    `#SBATCH` lines add up to one request, at the first of them; a command line is a request
    of its own, with the script's partition when it names none.
    """
    script: dict[str, str] = {}
    script_at: int | None = None
    for index, line in enumerate(lines):
        command = _SLURM_COMMAND.search(line)
        if command is None:
            continue
        values: dict[str, str] = {}
        for option, value in _OPTION.findall(line):
            if option in _REQUEST_OPTIONS and _clean(value) is not None:
                asked = _gpu_count(value) if option == "--gres" else value
                if asked is not None:
                    values[_REQUEST_OPTIONS[option]] = asked
        if command.group(2) == "#SBATCH":
            script_at = index if script_at is None else script_at
            script.update(values)
        elif values:
            yield index, JobRequest(context=line.strip()[:160], **values)
    if script_at is not None and script:
        yield script_at, JobRequest(context=lines[script_at].strip()[:160], **script)


def _gpu_count(gres: str) -> str | None:
    """The GPUs a `--gres` asks for: `gpu:2`, `gpu:a100:2`; None for other resources."""
    parts = gres.split(":")
    if parts[0] != "gpu":
        return None
    return parts[-1] if len(parts) > 1 and parts[-1].isdigit() else "1"
