"""The site profile (`site.yml`): its schema, loading and validation.

One profile drives the book's site values and the reference site's Slurm
partitions, modulefiles and kernelspecs, so both describe the same centre.
`models` holds the schema, `checks` what one model cannot check (unique names,
references between sections) and `loading` reads the file; import from here.
"""

from __future__ import annotations

from hpc_handbook.profile.accounts import (
    AccountPurpose,
    LoadTestAccounts,
    Project,
    ProjectLimits,
    ReferenceSiteSetup,
    SiteAccount,
    UnixName,
)
from hpc_handbook.profile.assessment import (
    SCORECARD_CRITERIA,
    SCORECARD_FILE,
    Assessment,
    CriterionId,
    KnownLimitations,
    Limitation,
    Rating,
    SelfAssessment,
)
from hpc_handbook.profile.base import Name, Walltime
from hpc_handbook.profile.jupyter import OWN_ENVIRONMENT, JupyterEnvironment, JupyterSetup, OwnEnvironment
from hpc_handbook.profile.loading import load_profile, parse_profile, profile_file
from hpc_handbook.profile.models import (
    DEFAULT_PROFILE,
    FILESYSTEM_ROLES,
    KERNEL_ROLES,
    PROFILE_ENV_VAR,
    Capabilities,
    ContainerImage,
    DocCiSetup,
    Filesystem,
    HubAccess,
    Kernel,
    KernelRole,
    ModuleName,
    Modules,
    Partition,
    PartitionLimits,
    PartitionNodes,
    Profile,
    SiteInfo,
    Support,
    System,
    expand_hostlist,
    kernel_fits_role,
    walltime_hours,
)

__all__ = [
    "DEFAULT_PROFILE",
    "FILESYSTEM_ROLES",
    "KERNEL_ROLES",
    "OWN_ENVIRONMENT",
    "PROFILE_ENV_VAR",
    "SCORECARD_CRITERIA",
    "SCORECARD_FILE",
    "AccountPurpose",
    "Assessment",
    "Capabilities",
    "ContainerImage",
    "CriterionId",
    "DocCiSetup",
    "Filesystem",
    "HubAccess",
    "JupyterEnvironment",
    "JupyterSetup",
    "Kernel",
    "KernelRole",
    "KnownLimitations",
    "Limitation",
    "LoadTestAccounts",
    "ModuleName",
    "Modules",
    "Name",
    "OwnEnvironment",
    "Partition",
    "PartitionLimits",
    "PartitionNodes",
    "Profile",
    "Project",
    "ProjectLimits",
    "Rating",
    "ReferenceSiteSetup",
    "SelfAssessment",
    "SiteAccount",
    "SiteInfo",
    "Support",
    "System",
    "UnixName",
    "Walltime",
    "expand_hostlist",
    "kernel_fits_role",
    "load_profile",
    "parse_profile",
    "profile_file",
    "walltime_hours",
]
