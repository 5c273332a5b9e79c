"""An example's "Open on the hub" link: the server its page's link starts, and the notebook it opens.

The link asks the profile's hub for a server where the example runs (the login node, or the
partition its `runs_on` names, with its CPUs and walltime) and for the example's notebook from
the handbook's repository (`hpc_handbook.hub.launch`). Every example has one: the notebook opens
anywhere, and for an example the site cannot run the link carries the reason, which its page shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hpc_handbook.examples.contract import Example, PartitionPlacement
from hpc_handbook.hub.launch import LAUNCH_PATH, clone_folder, launch_query, server_name
from hpc_handbook.profile import Profile

#: Where the examples are in the handbook's repository.
EXAMPLES_FOLDER = "examples"
#: What a capability an example requires is, as a reader says it.
CAPABILITY_NAMES = {
    "gpu": "GPUs that compute",
    "gpu_scheduling": "GPUs handed out by Slurm",
    "apptainer": "Apptainer",
    "conda": "conda",
}


@dataclass(frozen=True)
class LaunchLink:
    url: str
    #: The spawn options the link asks for.
    options: dict[str, str] = field(default_factory=dict)
    #: The named server it starts.
    server: str = ""
    #: The notebook it opens, relative to the home.
    notebook: str = ""
    #: Why the example will not run where the link opens it; empty when it will.
    caveat: str = ""

    @property
    def partition(self) -> str | None:
        place = self.options.get("place", "login")
        return None if place == "login" else place


def _lacking(example: Example, profile: Profile) -> str | None:
    """Why the site cannot run the example, as far as the profile says; None when it can."""
    if example.missing_kernels or not example.kernels:
        return (
            "; ".join(reason for _role, reason in example.missing_kernels) or "no kernel of the site runs it"
        )
    for capability in example.meta.requires:
        if capability == "own_environment" and profile.jupyter.own_environment is None:
            return "the site offers no own JupyterLab environment"
        if not getattr(profile.capabilities, capability, True):
            return f"the site does not offer {CAPABILITY_NAMES.get(capability, capability)}"
    return None


def _options(example: Example) -> dict[str, str]:
    """The spawn options for where the example runs (the contract holds it to a partition Jupyter reaches)."""
    placement = example.meta.runs_on
    if example.partition is None or not isinstance(placement, PartitionPlacement):
        return {"place": "login"}
    return {"place": example.partition, "cpus": str(placement.cpus), "walltime": placement.walltime}


def launch_link(example: Example, profile: Profile) -> LaunchLink:
    """The example's link on the profile's hub, with the reason when the site cannot run the example."""
    options = _options(example)
    repository = str(profile.site.repository_url).rstrip("/")
    notebook = f"{EXAMPLES_FOLDER}/{example.path.name}"
    query = launch_query(
        options, repository=repository, branch=profile.site.repository_branch, notebook=notebook
    )
    hub = str(profile.site.hub_url).rstrip("/")
    return LaunchLink(
        url=f"{hub}/{LAUNCH_PATH}?{query}",
        options=options,
        server=server_name(options),
        notebook=f"{clone_folder(repository)}/{notebook}",
        caveat=_lacking(example, profile) or "",
    )
