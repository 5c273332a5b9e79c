"""Hold every claim of every page against the site's vocabulary, and say where it is wrong.

A finding names the page and line, what the page claims, what is true at the site, and who
owns the page. Kinds: a name the site does not have, a name it retired, a request beyond a
partition's limits, a fact the site does not have, and a placeholder no page fills.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

from hpc_handbook.data.snapshot import extension_key, slurm_duration_seconds
from hpc_handbook.profile import Partition, expand_hostlist
from hpc_handbook.prose.claims import Claim, JobRequest, claims_in_line, job_requests, names_defined
from hpc_handbook.prose.sources import IGNORE_MARKER, Passage, book_passages
from hpc_handbook.site_facts.vocabulary import Vocabulary

FindingKind = Literal[
    "unknown",
    "retired",
    "beyond limit",
    "unknown fact",
    "unfilled placeholder",
    "stale data",
    "unsanitized output",
]


class ProseFinding(BaseModel):
    """One statement of a page that the site contradicts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    page: str
    #: Where on the page: `line N`, `cell C, line N`, `cell C, output` or `verification record`.
    location: str
    owner: str
    kind: FindingKind
    claim: str
    truth: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def where(self) -> str:
        """`page, line N` or `page, cell C, line N`."""
        return f"{self.page}, {self.location}"

    def line(self) -> str:
        owner = f" (owner: {self.owner})" if self.owner else ""
        return f"{self.where}: {self.kind}: {self.claim} — {self.truth}{owner}"


def _list(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def _judge_listed(
    kind: str, name: str, known: frozenset[str], retired: frozenset[str]
) -> tuple[FindingKind, str] | None:
    """A partition or kernel: the site has it, retired it, or never had it."""
    if name in retired:
        return "retired", f"the {kind} {name} was retired; the site has {_list(known)}"
    if name not in known:
        return "unknown", f"no {kind} {name}; the site has {_list(known)}"
    return None


def _judge_name(claim: Claim, vocabulary: Vocabulary) -> tuple[FindingKind, str] | None:
    """None when the site has the name; else the kind of finding and the truth."""
    retired = vocabulary.retired
    if claim.kind == "partition":
        return _judge_listed("partition", claim.name, vocabulary.partition_names, retired.partitions)
    if claim.kind == "kernel":
        return _judge_listed("kernel", claim.name, vocabulary.kernel_names, retired.kernels)
    if claim.kind == "node":
        missing = [n for n in expand_hostlist(claim.name) or [claim.name] if n not in vocabulary.node_names]
        if missing:
            return (
                "unknown",
                f"no node {', '.join(missing)}; the site's nodes are {_list(vocabulary.node_names)}",
            )
    elif claim.kind == "feature":
        if claim.name not in vocabulary.node_features:
            return (
                "unknown",
                f"no node has the feature {claim.name}; features: {_list(vocabulary.node_features)}",
            )
    elif claim.kind == "module":
        return _judge_module(claim.name, vocabulary)
    elif claim.kind == "extension":
        names = {extension_key(n) for n in vocabulary.extension_names}
        if extension_key(claim.name) in {extension_key(n) for n in retired.extensions}:
            return "retired", f"{claim.name} was removed; users' servers have {_list(vocabulary.extensions)}"
        if extension_key(claim.name) not in names:
            return "unknown", f"users' servers have no {claim.name}; they have {_list(vocabulary.extensions)}"
    elif claim.kind == "proxy_app":
        if claim.name.lower() not in {a.lower() for a in vocabulary.proxy_apps}:
            return (
                "unknown",
                f"the server proxy opens no {claim.name}; it opens {_list(vocabulary.proxy_apps)}",
            )
    elif claim.kind == "path":
        return _judge_path(claim.name, vocabulary)
    return None


def _judge_module(name: str, vocabulary: Vocabulary) -> tuple[FindingKind, str] | None:
    family, _, version = name.partition("/")
    modules = vocabulary.modules
    if name in vocabulary.retired.modules:
        return (
            "retired",
            f"{name} was retired; the site has {_list(f'{family}/{v}' for v in modules.get(family, ()))}",
        )
    if family not in modules:
        return "unknown", f"no module {family}; modules: {_list(modules)}"
    if version and version not in modules[family]:
        return "unknown", f"no {name}; the site has {_list(f'{family}/{v}' for v in modules[family])}"
    return None


def _path_pattern(declared: str) -> re.Pattern[str]:
    parts = re.split(r"(\$[A-Z_]+|<[^>]+>)", declared.rstrip("/"))
    body = "".join(r"[^/\s]+" if p.startswith(("$", "<")) else re.escape(p) for p in parts)
    return re.compile(body + r"(?:/|$)")


def _judge_path(path: str, vocabulary: Vocabulary) -> tuple[FindingKind, str] | None:
    declared = vocabulary.site_paths
    roots = {"/" + d.strip("/").split("/")[0] for d in declared}
    if "/" + path.strip("/").split("/")[0] not in roots:
        return None  # not on a filesystem the profile describes: a system path such as /opt/other
    if any(_path_pattern(d).match(path + "/") for d in declared):
        return None
    return "unknown", f"{path} is on none of the site's paths ({', '.join(declared)})"


# --- Requests beyond a partition's limits -------------------------------------------------


def _memory_gb(value: str) -> float | None:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)B?", value.upper())
    if match is None:
        return None
    scale = {"K": 1 / 1024**2, "M": 1 / 1024, "": 1 / 1024, "G": 1, "T": 1024}[match.group(2)]
    return float(match.group(1)) * scale


def _judge_request(request: JobRequest, vocabulary: Vocabulary) -> Iterator[str]:
    partitions = vocabulary.partitions
    name = request.partition or next((p.name for p in partitions.values() if p.default), None)
    partition: Partition | None = partitions.get(name or "")
    if partition is None:
        return  # an unknown partition is a claim of its own
    limits = partition.limits
    if request.time is not None:
        try:
            asked = slurm_duration_seconds(request.time)
        except ValueError:
            asked = None
        allowed = slurm_duration_seconds(limits.max_walltime)
        if asked is not None and allowed is not None and asked > allowed:
            yield f"--time {request.time} is beyond the {partition.name} partition's {limits.max_walltime}"
    if request.nodes is not None and request.nodes.split("-")[-1].isdigit():
        if int(request.nodes.split("-")[-1]) > limits.max_nodes:
            yield f"--nodes {request.nodes} is beyond the {partition.name} partition's {limits.max_nodes}"
    if request.gpus is not None and request.gpus.split(":")[-1].isdigit():
        if int(request.gpus.split(":")[-1]) > limits.gpus_per_node:
            yield f"{request.gpus} GPUs is beyond the {partition.name} partition's {limits.gpus_per_node}"
    memory = _memory_gb(request.memory) if request.memory else None
    if memory is not None and memory > limits.memory_per_node_gb:
        gigabytes = limits.memory_per_node_gb
        yield f"--mem {request.memory} is beyond the {partition.name} partition's {gigabytes} GB"


# --- Passages -------------------------------------------------------------------------------


def _ignored(lines: list[str], index: int) -> bool:
    return IGNORE_MARKER in lines[index] or (index > 0 and IGNORE_MARKER in lines[index - 1])


def check_passage(
    passage: Passage, vocabulary: Vocabulary, defined: frozenset[str] = frozenset()
) -> Iterator[ProseFinding]:
    """The passage's findings; `defined` are names its page gives to things it creates itself."""

    def finding(index: int, kind: FindingKind, claim: str, truth: str) -> ProseFinding:
        return ProseFinding(
            page=passage.page,
            location=passage.location(index),
            owner=passage.owner,
            kind=kind,
            claim=claim,
            truth=truth,
        )

    for number, key, reason in passage.unknown_facts:
        yield finding(number - 1, "unknown fact", f"{{site}}`{key}`", reason)
    if not passage.code:
        for number, snippet in passage.unfilled:
            yield finding(
                number - 1, "unfilled placeholder", snippet, "no role or directive fills it; see CONTRIBUTING"
            )
    lines = passage.lines
    for index, line in enumerate(lines):
        if _ignored(lines, index):
            continue
        for claim in claims_in_line(line):
            if claim.kind == "kernel" and claim.name in defined:
                continue
            judged = _judge_name(claim, vocabulary)
            if judged is not None:
                yield finding(
                    index, judged[0], f"{claim.kind} {claim.name!r} in “{claim.context}”", judged[1]
                )
    for index, request in job_requests(lines):
        if not _ignored(lines, index):
            for truth in _judge_request(request, vocabulary):
                yield finding(index, "beyond limit", request.context, truth)


def check_prose(root: Path, vocabulary: Vocabulary, pages: list[str] | None = None) -> list[ProseFinding]:
    """Every finding in the book's pages and examples (or only in `pages`), in page order."""
    by_page: dict[str, list[Passage]] = {}
    for passage in book_passages(root, vocabulary, pages):
        by_page.setdefault(passage.page, []).append(passage)
    findings: list[ProseFinding] = []
    for passages in by_page.values():
        defined = frozenset(names_defined([line for p in passages for line in p.lines]))
        for passage in passages:
            findings.extend(check_passage(passage, vocabulary, defined))
    return findings
