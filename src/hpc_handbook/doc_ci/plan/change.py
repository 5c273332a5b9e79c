"""Which examples a change touches, and why: what a contributor's merge request runs on the site.

Against a base revision (the target branch), an example is picked when:
- its notebook changed, or an asset it names;
- `site.yml` changed a value its parameters cell takes, a kernel it runs on, or its partition;
- the site facts its Markdown states render differently (from a changed profile or snapshot).
A change to the shared machinery (the tooling, the sanitizer rules, the dependencies) can affect
any example: then the picked ones run first and every other one after them.
Pages whose text or facts changed are listed for the preview; the prose check reads them all.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hpc_handbook.data.snapshot import DEFAULT_SNAPSHOT, Snapshot, parse_snapshot
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.examples.contract import Example, discover_examples
from hpc_handbook.profile import Profile, parse_profile
from hpc_handbook.prose.sources import book_passages
from hpc_handbook.site_facts import Vocabulary, build_vocabulary, site_parameters
from hpc_handbook.site_facts.vocabulary import example_audiences

#: Paths whose change can affect any example's run.
SHARED_MACHINERY = ("src/", "noxfile.py", "pyproject.toml", "examples/sanitize.cfg", "reference_site/")
PROFILE = "site.yml"


@dataclass(frozen=True)
class Pick:
    example: str
    why: str


@dataclass
class ChangePlan:
    base: str
    changed_files: list[str]
    picks: list[Pick] = field(default_factory=list)
    #: Changed files of the shared machinery: every other example runs too.
    shared: list[str] = field(default_factory=list)
    #: Pages (book paths, `examples/X.ipynb` too) whose text or rendered facts changed.
    changed_pages: list[str] = field(default_factory=list)

    def pick(self, example: str, why: str) -> None:
        if all(p.example != example for p in self.picks):
            self.picks.append(Pick(example, why))

    def lines(self) -> list[str]:
        """One line per picked example with why, then what runs after them."""
        lines = [f"picked: {p.example} ({p.why})" for p in self.picks]
        if self.shared:
            lines.append(
                f"then: every other example, because shared machinery changed: {', '.join(self.shared)}"
            )
        elif not self.picks:
            lines.append(f"no example is touched by the changes since {self.base}")
        return lines


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise HandbookInputError("--changed-since", "", f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def changed_files(root: Path, base: str) -> list[str]:
    """Files changed on this branch since it left `base`, committed or not."""
    merge_base = _git(root, "merge-base", base, "HEAD").strip()
    committed = _git(root, "diff", "--name-only", merge_base, "HEAD").splitlines()
    working = _git(root, "diff", "--name-only", "HEAD").splitlines()
    untracked = _git(root, "ls-files", "--others", "--exclude-standard").splitlines()
    return sorted({*committed, *working, *untracked})


def _base_text(root: Path, base: str, path: str) -> str | None:
    done = subprocess.run(
        ["git", "show", f"{_git(root, 'merge-base', base, 'HEAD').strip()}:{path}"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout if done.returncode == 0 else None


def _base_vocabulary(root: Path, base: str, profile: Profile, snapshot: Snapshot | None) -> Vocabulary:
    """The site as the base revision described it: its profile and snapshot, where they differ."""
    text = _base_text(root, base, PROFILE)
    base_profile = parse_profile(yaml.safe_load(text), file=f"{base}:{PROFILE}") if text else profile
    snapshot_text = _base_text(root, base, DEFAULT_SNAPSHOT.as_posix())
    base_snapshot = (
        parse_snapshot(snapshot_text, file=f"{base}:{DEFAULT_SNAPSHOT}") if snapshot_text else snapshot
    )
    return build_vocabulary(base_profile, base_snapshot, example_audiences(root / "examples"))


def _rendered(root: Path, vocabulary: Vocabulary) -> dict[str, list[str]]:
    pages: dict[str, list[str]] = {}
    for passage in book_passages(root, vocabulary):
        if not passage.code:
            pages.setdefault(passage.page, []).extend(passage.lines)
    return pages


def _profile_picks(plan: ChangePlan, examples: list[Example], before: Profile, after: Profile) -> None:
    """Examples whose parameters, kernels or partition the profile's change touches."""
    old_values, new_values = site_parameters(before), site_parameters(after)
    old_kernels = {k.name: k for k in before.kernels}
    old_partitions = {p.name: p for p in before.partitions}
    for example in examples:
        for name in example.parameter_names:
            if old_values.get(name) != new_values.get(name):
                plan.pick(example.name, f"its parameter {name} changed in {PROFILE}")
        for kernel in example.kernels:
            if old_kernels.get(kernel) != after.kernel(kernel):
                plan.pick(example.name, f"its kernel {kernel} changed in {PROFILE}")
            partition = after.kernel(kernel).partition
            if partition and old_partitions.get(partition) != after.partition(partition):
                plan.pick(example.name, f"its kernel {kernel} runs on partition {partition}, which changed")
        if example.partition and old_partitions.get(example.partition) != after.partition(example.partition):
            plan.pick(example.name, f"its partition {example.partition} changed in {PROFILE}")


def plan_change(root: Path, base: str, profile: Profile, snapshot: Snapshot | None) -> ChangePlan:
    """What a change since `base` touches: the examples to run, each with why, and the changed pages."""
    files = changed_files(root, base)
    plan = ChangePlan(base=base, changed_files=files)
    examples = discover_examples(root / "examples", profile)
    by_name = {example.name: example for example in examples}
    for path in files:
        if path.startswith("examples/") and path.endswith(".ipynb") and Path(path).stem in by_name:
            plan.pick(Path(path).stem, "the example changed")
            plan.changed_pages.append(path)
        elif path.startswith("book/") and path.endswith(".md"):
            plan.changed_pages.append(path)
        elif path.startswith("examples/assets/"):
            asset = Path(path).name
            for example in examples:
                if asset in example.path.read_text(encoding="utf-8"):
                    plan.pick(example.name, f"it uses {path}, which changed")
        if path.startswith(SHARED_MACHINERY) or path in SHARED_MACHINERY:
            plan.shared.append(path)
    vocabulary = build_vocabulary(profile, snapshot, example_audiences(root / "examples"))
    if PROFILE in files or DEFAULT_SNAPSHOT.as_posix() in files:
        before = _base_vocabulary(root, base, profile, snapshot)
        _profile_picks(plan, examples, before.profile, profile)
        old, new = _rendered(root, before), _rendered(root, vocabulary)
        for page in sorted(new):
            if old.get(page) != new[page]:
                if page.startswith("examples/") and Path(page).stem in by_name:
                    plan.pick(Path(page).stem, "the site facts its page states changed")
                if page not in plan.changed_pages:
                    plan.changed_pages.append(page)
    plan.changed_pages.sort()
    return plan
