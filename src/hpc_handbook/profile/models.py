"""The site profile's schema: one pydantic model per section of `site.yml`, and what they derive."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    HttpUrl,
    StringConstraints,
    model_validator,
)

from hpc_handbook.profile.accounts import Project, ReferenceSiteSetup, UnixName
from hpc_handbook.profile.assessment import KnownLimitations, SelfAssessment
from hpc_handbook.profile.base import Name, Strict, Walltime
from hpc_handbook.profile.jupyter import JupyterSetup
from hpc_handbook.profile.notify import NotifySetup

#: The profile of the handbook's own reference site, at the repository root.
DEFAULT_PROFILE = Path("site.yml")
#: Environment variable that points the book build and the tools at another profile.
PROFILE_ENV_VAR = "HANDBOOK_SITE"

#: The filesystems every page may refer to; a site may add others.
FILESYSTEM_ROLES = ("home", "project", "scratch")

ModuleName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)?$")]


class SiteInfo(Strict):
    name: str = Field(min_length=1, description="The centre's full name.")
    short_name: str = Field(min_length=1, max_length=16, description="The centre's short name.")
    hub_url: HttpUrl = Field(description="The JupyterHub users log in to.")
    docs_url: HttpUrl = Field(description="Where the built handbook is published; feeds link here.")
    repository_url: HttpUrl = Field(description="The handbook's source repository.")
    repository_branch: str = Field(
        default="main",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
        description='The branch of the repository whose examples the pages\' "Open on the hub" links '
        "pull into the user's home (nbgitpuller).",
    )


class Support(Strict):
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    issue_tracker: HttpUrl = Field(description="The single point of truth for feedback.")
    account_request: HttpUrl = Field(
        description="Where someone without an account asks for one: the centre's application form, or "
        "the page that says who may apply and how. The getting-started track begins there."
    )


class PartitionLimits(Strict):
    max_nodes: int = Field(ge=1)
    max_walltime: Walltime
    gpus_per_node: int = Field(default=0, ge=0)
    memory_per_node_gb: int = Field(ge=1)


#: One Slurm hostlist: `rcc-cpu[01-04]`, `gpu01,gpu02`, `node[1-2,7]`.
Hostlist = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*(\[[0-9,-]+\])?(,[a-z][a-z0-9_-]*(\[[0-9,-]+\])?)*$")
]
NodeFeature = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$", max_length=40)]


def expand_hostlist(hostlist: str) -> list[str]:
    """The node names of a Slurm hostlist, in order: `rcc-cpu[01-02]` is rcc-cpu01, rcc-cpu02."""
    names = []
    for prefix, ranges in re.findall(r"([a-z][a-z0-9_-]*)(?:\[([0-9,-]+)\])?(?:,|$)", hostlist):
        if not ranges:
            names.append(prefix)
            continue
        for part in ranges.split(","):
            first, _, last = part.partition("-")
            width = len(first)
            names += [f"{prefix}{n:0{width}d}" for n in range(int(first), int(last or first) + 1)]
    return names


class PartitionNodes(Strict):
    """The nodes a partition owns and what each one offers; every node of a partition is alike."""

    names: Hostlist = Field(description="The nodes, as a Slurm hostlist such as `rcc-cpu[01-02]`.")
    cpus: int = Field(ge=1, le=1024, description="CPU cores per node.")
    memory_gb: int = Field(ge=1, description="Memory per node.")
    features: list[NodeFeature] = Field(
        default_factory=list, description="What `--constraint` selects, such as a GPU model or `largemem`."
    )

    @property
    def node_names(self) -> list[str]:
        return expand_hostlist(self.names)

    @property
    def count(self) -> int:
        return len(self.node_names)

    @model_validator(mode="after")
    def _ranges_ascend(self) -> PartitionNodes:
        for part in re.findall(r"\[([0-9,-]+)\]", self.names):
            for span in part.split(","):
                first, _, last = span.partition("-")
                if not first or (last and int(last) < int(first)):
                    raise ValueError(f"{span!r} in {self.names!r} is not a range like 01-04")
        if len(set(self.node_names)) != self.count:
            raise ValueError(f"{self.names!r} names a node twice")
        return self


class Partition(Strict):
    name: Name
    purpose: str = Field(min_length=1)
    jupyter: bool = Field(description="Whether a Jupyter server or kernel can run there.")
    interactive: bool = False
    default: bool = False
    limits: PartitionLimits
    nodes: PartitionNodes | None = Field(
        default=None,
        description="The partition's own nodes; without them the reference site gives it one node.",
    )

    @property
    def node_setup(self) -> PartitionNodes:
        """The nodes as given, else one node named after the partition, as big as one job may be."""
        if self.nodes is not None:
            return self.nodes
        return PartitionNodes(names=f"{self.name}01", cpus=16, memory_gb=self.limits.memory_per_node_gb)


class System(Strict):
    name: Name
    description: str = Field(min_length=1)
    partitions: list[Partition] = Field(min_length=1)


#: What an example can ask a kernel for, by what it does rather than by its name at one site:
#: an example says `role:bash`, and each site's profile answers with its own kernel.
KERNEL_ROLES: dict[str, str] = {
    "python": "an everyday Python kernel that runs where the server runs (language python, start local)",
    "modules": "a kernel built from the site's modules (start modules)",
    "slurm": "a kernel that runs in its own Slurm job (start slurm)",
    "r": "an R kernel (language R)",
    "bash": "a Bash kernel (language bash)",
    "gpu": "a kernel whose own Slurm job asks for GPUs (start slurm, gpus above 0)",
    "container": "a kernel that runs in one of the site's container images (start container)",
}
KernelRole = Literal["python", "modules", "slurm", "r", "bash", "gpu", "container"]


def kernel_fits_role(kernel: Kernel, role: str) -> bool:
    """Whether the kernel can play the role (what `role:` in the profile may claim)."""
    language = kernel.language.lower()
    return {
        "python": language == "python" and kernel.start == "local",
        "modules": kernel.start == "modules",
        "slurm": kernel.start == "slurm" and not kernel.gpus,
        "gpu": kernel.start == "slurm" and kernel.gpus > 0,
        "container": kernel.start == "container",
        "r": language == "r",
        "bash": language == "bash",
    }[role]


class Kernel(Strict):
    name: Name
    role: KernelRole | None = Field(
        default=None,
        description="The role this kernel plays for the examples; by default the first kernel that fits.",
    )
    display_name: str = Field(min_length=1)
    language: str = Field(min_length=1)
    purpose: str = Field(min_length=1)
    start: Literal["local", "modules", "slurm", "container"]
    modules: list[ModuleName] = Field(default_factory=list)
    image: Name | None = Field(default=None, description="The container image it runs in (start: container).")
    partition: Name | None = None
    walltime: Walltime | None = None
    gpus: int = Field(default=0, ge=0, description="GPUs the kernel's own job asks for (start: slurm).")
    packages: list[str] = Field(default_factory=list, description="Key packages the probe reports.")

    @model_validator(mode="after")
    def _start_fields_match(self) -> Kernel:
        if self.start == "modules" and not self.modules:
            raise ValueError("a kernel with start: modules needs a non-empty 'modules' list")
        if self.start == "slurm" and self.partition is None:
            raise ValueError("a kernel with start: slurm needs a 'partition'")
        if self.start != "slurm" and self.partition is not None:
            raise ValueError("only a kernel with start: slurm takes a 'partition'")
        if self.start != "slurm" and self.gpus:
            raise ValueError("only a kernel with start: slurm takes 'gpus' (its job asks Slurm for them)")
        if self.start == "container" and self.image is None:
            raise ValueError("a kernel with start: container needs an 'image' (a name from 'containers')")
        if self.start != "container" and self.image is not None:
            raise ValueError("only a kernel with start: container takes an 'image'")
        if self.start == "container" and self.language.lower() != "python":
            raise ValueError(
                "a kernel with start: container must be a Python kernel (its image holds ipykernel)"
            )
        return self


#: A Debian package name, as apt takes it.
DebianPackage = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9+.-]+$")]


class ContainerImage(Strict):
    """A container image users' kernels run in, built from Debian's packages by `site up`."""

    name: Name
    description: str = Field(min_length=1)
    debian_suite: Literal["bookworm", "trixie"] = Field(
        default="bookworm", description="The Debian release the image is built from."
    )
    packages: list[DebianPackage] = Field(
        min_length=1, description="Debian packages in the image; a Python kernel needs python3-ipykernel."
    )

    @property
    def reference(self) -> str:
        """The image's name in podman's store: built locally, so under `localhost/`."""
        return f"localhost/{self.name}:{self.debian_suite}"


class Modules(Strict):
    paths: list[str] = Field(min_length=1, description="MODULEPATH entries of the site's tree.")
    relied_on: list[ModuleName] = Field(default_factory=list, description="Modules the docs use.")


class Filesystem(Strict):
    name: Name
    path: str = Field(min_length=1, description="Path pattern, with $USER or $PROJECT.")
    purpose: str = Field(min_length=1)
    quota: str = Field(min_length=1)


class Capabilities(Strict):
    gpu: bool = Field(default=False, description="Real GPUs that examples can compute on.")
    gpu_scheduling: bool = Field(
        default=False,
        description="Slurm hands out GPUs (--gpus, --gres) on a partition whose nodes declare them, "
        "whether or not a GPU is really there; pages on asking for GPUs are verified with it.",
    )
    apptainer: bool = False
    conda: bool = False


class HubAccess(Strict):
    """How the doc CI reaches the site's hub as its own account; absent: kernels start directly."""

    url: HttpUrl = Field(description="The hub's address as the doc CI reaches it.")
    doc_ci_user: UnixName = Field(description="The account whose servers and kernels run the examples.")
    token_file: Path = Field(description="A file (readable by the doc CI only) holding the API token.")
    password_file: Path | None = Field(
        default=None,
        description="A file (readable by the doc CI only) with the account's password. The hub shows "
        "its spawn form only to a logged-in browser, never to a token: the probe logs in to read it.",
    )


class DocCiSetup(Strict):
    """Where the doc CI may spread its runs with `--dispatch slurm`."""

    dispatch_partition: Name | None = Field(
        default=None, description="The partition whose nodes run the examples' worker jobs."
    )
    dispatch_walltime: Walltime = Field(default="01:00:00", description="Each worker job's time limit.")
    dispatch_nodes: int | None = Field(
        default=None,
        ge=1,
        description="How many of the partition's nodes get a worker job unless `--dispatch-nodes` says "
        "otherwise (default: every node that takes jobs). Workers share their nodes, but an example that "
        "asks for whole nodes (`--exclusive`) on this partition needs some left without one.",
    )
    space_needed_gb: float = Field(
        default=1.0,
        gt=0,
        description="The room a run needs where it works: the doc-CI account's home (free space and quota) "
        "through the hub, the temporary folder with `--direct`. A run with less refuses to start. The "
        "handbook's own examples need about 0.7 GB at most, mostly for virtual environments.",
    )


class Profile(Strict):
    site: SiteInfo
    support: Support
    systems: list[System] = Field(min_length=1)
    kernels: list[Kernel] = Field(min_length=1)
    #: Images for `start: container` kernels, shared read-only by every user's rootless podman.
    containers: list[ContainerImage] = Field(default_factory=list)
    projects: list[Project] = Field(
        default_factory=list,
        description="Projects (Slurm accounts) jobs are charged to; empty: the accounts' own, unlimited.",
    )
    modules: Modules
    filesystems: list[Filesystem] = Field(min_length=1)
    capabilities: Capabilities = Capabilities()
    jupyter: JupyterSetup = JupyterSetup()
    known_limitations: KnownLimitations = KnownLimitations()
    self_assessment: SelfAssessment = SelfAssessment()
    reference_site: ReferenceSiteSetup | None = None
    hub: HubAccess | None = None
    #: Whom the doc CI tells about failures; its models live beside the notifier.
    notify: NotifySetup = NotifySetup()
    doc_ci: DocCiSetup = DocCiSetup()

    @property
    def partitions(self) -> list[Partition]:
        return [partition for system in self.systems for partition in system.partitions]

    def partition(self, name: str) -> Partition:
        return next(p for p in self.partitions if p.name == name)

    def project(self, name: str) -> Project:
        """A declared project, or the project an account names without limits when none are declared."""
        declared = next((p for p in self.projects if p.name == name), None)
        return declared or Project(name=name, description=f"The project {name}.")

    def kernel(self, name: str) -> Kernel:
        return next(k for k in self.kernels if k.name == name)

    @property
    def extra_library_module(self) -> str | None:
        """A relied-on module the module-based kernel does not load: what one's own kernel adds."""
        loaded = self.kernel_roles["modules"].modules if "modules" in self.kernel_roles else []
        return next((m for m in self.modules.relied_on if m not in loaded), None)

    @property
    def kernel_roles(self) -> dict[str, Kernel]:
        """Each role a kernel plays: the one that claims it, else the first kernel that fits it."""
        roles: dict[str, Kernel] = {k.role: k for k in self.kernels if k.role is not None}
        for role in KERNEL_ROLES:
            if role not in roles:
                fitting = (k for k in self.kernels if k.role is None and kernel_fits_role(k, role))
                if (kernel := next(fitting, None)) is not None:
                    roles[role] = kernel
        return {role: roles[role] for role in KERNEL_ROLES if role in roles}

    @property
    def jupyter_partitions(self) -> list[Partition]:
        return [p for p in self.partitions if p.jupyter]

    @property
    def interactive_partition(self) -> Partition:
        """Where a novice's server runs: the first interactive partition Jupyter reaches."""
        reachable = self.jupyter_partitions
        return next((p for p in reachable if p.interactive), reachable[0])

    @property
    def batch_partition(self) -> Partition:
        """Where batch kernels and jobs go: the default partition, else the first non-interactive one."""
        reachable = [p for p in self.jupyter_partitions if not p.interactive]
        return next(
            (p for p in reachable if p.default), reachable[0] if reachable else self.interactive_partition
        )


def walltime_hours(walltime: str) -> float:
    """Convert a Slurm walltime ([D-]HH:MM:SS) to hours."""
    match = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d+):(\d+)", walltime)
    if match is None:
        raise ValueError(f"not a walltime: {walltime!r}")
    days, hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return days * 24 + hours + minutes / 60 + seconds / 3600
